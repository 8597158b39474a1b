import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SocaiAPI
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiState
import Testing

/// `POST /v1/txs`: many transactions in one request, each admitted or refused alone, with
/// the status and error `POST /v1/tx` would have given it.
@Suite struct BatchSubmissionTests {
    let chainID = try! ChainID("socai-batch")

    /// A new DID's creation, signed by a key made from `label`.
    func creation(_ label: String) throws -> TransactionEnvelope {
        let key = try SigningKey(seed: SHA256.hash(Array("batch \(label)".utf8)))
        return try DIDCreate(did: DID(initialKey: PublicKey(of: key))).envelope(chainID: chainID, key: key, nonce: 1)
    }

    func batchBody(_ entries: [String]) -> ByteBuffer {
        ByteBuffer(bytes: Array(try! JSONSerialization.data(withJSONObject: ["transactions": entries])))
    }

    func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// Submits `entries` in one batch; the answer's `accepted` and its results.
    func submitBatch(_ client: some TestClientProtocol, _ entries: [String]) async throws -> (
        accepted: Int?, results: [[String: Any]]
    ) {
        try await client.execute(uri: "/v1/txs", method: .post, body: batchBody(entries)) { response in
            #expect(response.status == .ok)
            let answer = json(response.body)
            return (answer["accepted"] as? Int, answer["results"] as? [[String: Any]] ?? [])
        }
    }

    /// A batch whose entries are good, a duplicate of an earlier one, forged and not hex:
    /// each has its own status, and only the good ones are accepted, in order.
    func checkMixedBatch(_ client: some TestClientProtocol) async throws -> [Hash] {
        let first = try creation("first")
        let second = try creation("second")
        var forged = try creation("forged")
        forged.nonce = 9
        let entries = [
            Hex.encode(first.canonicalBytes), Hex.encode(first.canonicalBytes), Hex.encode(forged.canonicalBytes), "zz",
            Hex.encode(second.canonicalBytes),
        ]
        let (accepted, results) = try await submitBatch(client, entries)
        #expect(accepted == 2)
        #expect(results.count == entries.count)
        #expect(results.map { $0["status"] as? Int } == [200, 409, 422, 400, 200])
        #expect(results.map { $0["hash"] as? String } == [first.hash.hex, first.hash.hex, forged.hash.hex, nil, second.hash.hex])
        #expect(
            results.map { ($0["error"] as? [String: Any])?["code"] as? String } == [
                nil, "duplicate", "invalidSignature", "badRequest", nil,
            ])
        let decodeMessage = (results[3]["error"] as? [String: Any])?["message"] as? String
        #expect(decodeMessage?.hasPrefix("transaction 3 does not decode") == true)
        return [first.hash, second.hash]
    }

    /// What is wrong with the request as a whole refuses it all, naming the problem.
    func checkRefusedRequests(_ client: some TestClientProtocol) async throws {
        try await client.execute(uri: "/v1/txs", method: .post, body: batchBody([])) { response in
            #expect(response.status == .badRequest)
            let message = (json(response.body)["error"] as? [String: Any])?["message"] as? String
            #expect(message == "a batch holds 1 to \(NodeSubmission.batchTransactionsMax) transactions, not 0")
        }
        let tooMany = try (0...NodeSubmission.batchTransactionsMax).map { Hex.encode(try creation("many \($0)").canonicalBytes) }
        try await client.execute(uri: "/v1/txs", method: .post, body: batchBody(tooMany)) { response in
            #expect(response.status == .badRequest)
        }
        try await client.execute(uri: "/v1/txs", method: .post, body: ByteBuffer(string: "{\"transaction\": \"00\"}")) {
            response in
            #expect(response.status == .badRequest)
        }
        try await client.execute(
            uri: "/v1/txs?wait=commit", method: .post, body: batchBody([Hex.encode(try creation("wait").canonicalBytes)])
        ) { response in
            #expect(response.status == .badRequest)
        }
        try await client.execute(
            uri: "/v1/txs", method: .post,
            body: ByteBuffer(repeating: UInt8(ascii: "a"), count: SocaiAPI.batchRequestBodyBytesMax + 1)
        ) { response in
            #expect(response.status == .contentTooLarge)
        }
    }

    /// Over the one-transaction-at-a-time default (`NodeService.submit(batch:)`), on a
    /// development node that commits each accepted transaction at once.
    @Test func aDevelopmentNodeAdmitsEachEntryAlone() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let node = try DevelopmentNode(home: try NodeHome(path: written.nodeHomes[0]))
        let app = Application(router: SocaiAPI.router(node: node))
        try await app.test(.router) { client in
            let accepted = try await checkMixedBatch(client)
            for hash in accepted {
                try await client.execute(uri: "/v1/tx/\(hash.hex)", method: .get) { response in
                    #expect(response.status == .ok)
                }
            }
            try await checkRefusedRequests(client)
        }
    }

    /// Over a real single validator: the batch is admitted in one hop onto the node, gossip
    /// and proposal follow, and every accepted transaction commits.
    @Test func aValidatorAdmitsABatchAndCommitsIt() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        var generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        generator.peerPortBase = 21_000 + Int(getpid() % 250) * 8
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let node = try ValidatorNode(home: try NodeHome(path: written.nodeHomes[0]), log: { _ in })
        try await node.start()
        let app = Application(router: SocaiAPI.router(node: node))
        try await app.test(.router) { client in
            var accepted = try await checkMixedBatch(client)
            // One signer's nonces 1 and 2 in one batch: admitted in order, both accepted.
            let key = try SigningKey(seed: SHA256.hash(Array("batch signer".utf8)))
            let did = DID(initialKey: PublicKey(of: key))
            let create = try DIDCreate(did: did).envelope(chainID: chainID, key: key, nonce: 1)
            let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://batch.vn")
            let update = try DIDUpdate(did: did, operations: [.addService(service)]).envelope(
                chainID: chainID, key: key, nonce: 2)
            let (count, results) = try await submitBatch(
                client, [Hex.encode(create.canonicalBytes), Hex.encode(update.canonicalBytes)])
            #expect(count == 2)
            #expect(results.map { $0["status"] as? Int } == [200, 200])
            accepted += [create.hash, update.hash]
            for hash in accepted {
                let committed = await node.waitForCommit(hash, timeoutMilliseconds: 20_000)
                #expect(committed?.code == "ok", "transaction \(hash) did not commit")
            }
            try await checkRefusedRequests(client)
        }
        await node.stop()
    }

    /// A batch that fills the mempool part way: the entries that fit are accepted, each one
    /// after them is refused with 503 `mempoolFull`, and the bound is the one the node's
    /// configuration names. The node is not started, so nothing commits to make room.
    @Test func aBatchThatFillsTheMempoolIsRefusedFromThereOn() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let home = written.nodeHomes[0]
        let configurationPath = home + "/" + NodeConfiguration.fileName
        var configuration = try JSONDecoder().decode(
            NodeConfiguration.self, from: try Data(contentsOf: URL(fileURLWithPath: configurationPath)))
        configuration.mempoolTransactionsMax = 2
        try JSONEncoder().encode(configuration).write(to: URL(fileURLWithPath: configurationPath))
        let node = try ValidatorNode(home: try NodeHome(path: home), log: { _ in })
        let app = Application(router: SocaiAPI.router(node: node))
        try await app.test(.router) { client in
            let creations = try ["full 1", "full 2", "full 3", "full 4"].map(creation)
            let (accepted, results) = try await submitBatch(client, creations.map { Hex.encode($0.canonicalBytes) })
            #expect(accepted == 2)
            #expect(results.map { $0["status"] as? Int } == [200, 200, 503, 503])
            #expect(
                results.map { ($0["error"] as? [String: Any])?["code"] as? String } == [nil, nil, "mempoolFull", "mempoolFull"])
            let message = (results[2]["error"] as? [String: Any])?["message"] as? String
            #expect(message == "the mempool holds its maximum of 2 transactions")
            // Alone, the third is refused the same way.
            try await client.execute(
                uri: "/v1/tx", method: .post,
                body: ByteBuffer(
                    bytes: Array(
                        try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(creations[2].canonicalBytes)])))
            ) { response in
                #expect(response.status == .serviceUnavailable)
            }
        }
    }
}
