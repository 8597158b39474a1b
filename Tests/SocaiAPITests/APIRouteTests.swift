import Foundation
import Hummingbird
import HummingbirdTesting
import SocaiAPI
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiState
import Testing

/// The HTTP API in process (`app.test(.router)`), over a development node with a real store.
@Suite struct APIRouteTests {
    let citizen = try! SigningKey(seed: SHA256.hash(Array("api citizen".utf8)))

    final class TemporaryDirectory {
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-api-\(UUID().uuidString)").path
            try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    func makeApplication(_ directory: TemporaryDirectory) throws -> (some ApplicationProtocol, ChainID) {
        let chainID = try ChainID("socai-api")
        var generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        generator.accounts = [Genesis.AccountEntry(publicKey: Hex.encode(citizen.publicKey), balance: 50)]
        let result = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let node = try DevelopmentNode(home: try NodeHome(path: result.nodeHomes[0]))
        return (Application(router: SocaiAPI.router(node: node)), chainID)
    }

    func body(_ object: [String: String]) -> ByteBuffer {
        ByteBuffer(bytes: Array(try! JSONSerialization.data(withJSONObject: object)))
    }

    func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// The accepted answer is written without an encoder: exactly `{"hash":"<hex>"}`, JSON.
    @Test func anAcceptedSubmissionAnswersItsHash() async throws {
        let directory = TemporaryDirectory()
        let (app, chainID) = try makeApplication(directory)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("api newcomer".utf8)))
        let create = try DIDCreate(did: DID(initialKey: PublicKey(of: newcomer))).envelope(
            chainID: chainID, key: newcomer, nonce: 1)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/tx", method: .post, body: body(["transaction": Hex.encode(create.canonicalBytes)]))
            { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(String(buffer: response.body) == "{\"hash\":\"\(create.hash.hex)\"}")
                #expect(json(response.body)["hash"] as? String == create.hash.hex)
            }
        }
    }

    @Test func anUnknownRouteOrMethodIsAJSONErrorNamingIt() async throws {
        let directory = TemporaryDirectory()
        let (app, _) = try makeApplication(directory)
        try await app.test(.router) { client in
            let unknown = try await getResponse(client, "/v1/nope")
            #expect(unknown.status == 404)
            #expect(unknown.contentType == "application/json; charset=utf-8")
            let error = (try JSONSerialization.jsonObject(with: unknown.body) as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "notFound")
            #expect(error?["message"] as? String == "no route for GET /v1/nope")
            try await client.execute(uri: "/v1/status", method: .delete) { response in
                #expect(response.status.code >= 400 && response.status.code < 500)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let message = (json(response.body)["error"] as? [String: Any])?["message"] as? String
                #expect(message?.contains("/v1/status") == true, "\(message ?? "no message")")
            }
        }
    }

    @Test func submitsQueriesAndProves() async throws {
        let directory = TemporaryDirectory()
        let (app, chainID) = try makeApplication(directory)
        let did = DID(initialKey: PublicKey(of: citizen))
        let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://a.vn")
        let update = try DIDUpdate(did: did, operations: [.addService(service)]).envelope(
            chainID: chainID, key: citizen, nonce: 1)
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/ready", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(
                uri: "/v1/tx?wait=commit", method: .post, body: body(["transaction": Hex.encode(update.canonicalBytes)])
            ) {
                response in
                #expect(response.status == .ok)
                let result = json(response.body)["result"] as? [String: Any]
                #expect(result?["code"] as? String == "ok")
                #expect(json(response.body)["hash"] as? String == update.hash.hex)
            }
            // The same transaction again is a duplicate (409), a forged one is refused naming the rule (422).
            try await client.execute(uri: "/v1/tx", method: .post, body: body(["transaction": Hex.encode(update.canonicalBytes)]))
            { response in
                #expect(response.status == .conflict)
                #expect((json(response.body)["error"] as? [String: Any])?["code"] as? String == "duplicate")
            }
            var forged = try DIDDeactivate(did: did).envelope(chainID: chainID, key: citizen, nonce: 2)
            forged.nonce = 7
            try await client.execute(uri: "/v1/tx", method: .post, body: body(["transaction": Hex.encode(forged.canonicalBytes)]))
            { response in
                #expect(response.status == .unprocessableContent)
                #expect((json(response.body)["error"] as? [String: Any])?["code"] as? String == "invalidSignature")
            }
            try await client.execute(uri: "/v1/tx", method: .post, body: ByteBuffer(string: "not json")) { response in
                #expect(response.status == .badRequest)
                #expect((json(response.body)["error"] as? [String: Any])?["message"] as? String != nil)
            }
            try await client.execute(
                uri: "/v1/tx", method: .post,
                body: ByteBuffer(repeating: UInt8(ascii: "a"), count: SocaiAPI.requestBodyBytesMax + 1)
            ) {
                response in #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/v1/tx/\(update.hash.hex)", method: .get) { response in
                #expect(response.status == .ok)
                #expect((json(response.body)["result"] as? [String: Any])?["height"] as? Int == 1)
            }
            try await client.execute(uri: "/v1/tx/\(String(repeating: "0", count: 64))", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/blocks/1", method: .get) { response in
                #expect(response.status == .ok)
                #expect(json(response.body)["transactionHashes"] as? [String] == [update.hash.hex])
            }
            try await client.execute(uri: "/v1/blocks/9", method: .get) { response in #expect(response.status == .notFound) }
            try await client.execute(uri: "/v1/blocks/zero", method: .get) { response in #expect(response.status == .badRequest) }
            try await client.execute(uri: "/v1/dids/\(did.value)", method: .get) { response in
                #expect(response.status == .ok)
                let answer = json(response.body)
                #expect((answer["record"] as? [String: Any])?["version"] as? Int == 2)
                let proof = try #require(answer["proof"] as? [String: Any])
                // Verify the proof independently of the server's word.
                let stateProof = StateProof(
                    key: try Hex.decode(proof["key"] as! String), value: try Hex.decode(proof["value"] as! String),
                    root: try Hash(hex: proof["root"] as! String),
                    proof: try SparseMerkleProof(canonicalBytes: try Hex.decode(proof["proof"] as! String)))
                #expect(stateProof.verify())
            }
            try await client.execute(uri: "/v1/dids/\(did.value)?version=1", method: .get) { response in
                #expect((json(response.body)["record"] as? [String: Any])?["version"] as? Int == 1)
                // The superseded version is proven under its history key.
                let proof = json(response.body)["proof"] as? [String: Any]
                #expect(proof?["key"] as? String == Hex.encode(StateKey.didVersion(did, 1)))
            }
            // The current version asked for by number is proven under `did/d`, where format
            // version 2 keeps it alone; a version not yet made is not found.
            try await client.execute(uri: "/v1/dids/\(did.value)?version=2", method: .get) { response in
                #expect(response.status == .ok)
                #expect((json(response.body)["record"] as? [String: Any])?["version"] as? Int == 2)
                let proof = json(response.body)["proof"] as? [String: Any]
                #expect(proof?["key"] as? String == Hex.encode(StateKey.did(did)))
            }
            try await client.execute(uri: "/v1/dids/\(did.value)?version=3", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/dids/not-a-did", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/balances/\(did.value)", method: .get) { response in
                #expect((json(response.body)["record"] as? [String: Any])?["credits"] as? Int == 50)
            }
            try await client.execute(uri: "/v1/consents?subject=\(did.value)", method: .get) { response in
                #expect((json(response.body)["items"] as? [Any])?.isEmpty == true)
            }
            try await client.execute(uri: "/v1/consents", method: .get) { response in #expect(response.status == .badRequest) }
            // Lists page by cursor: a short page has no next, and a bad cursor is a 400.
            try await client.execute(uri: "/v1/offers", method: .get) { response in
                #expect(response.status == .ok)
                #expect(json(response.body)["next"] == nil)
            }
            try await client.execute(uri: "/v1/offers?after=zz", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/consents?subject=\(did.value)&after=0011", method: .get) { response in
                #expect(response.status == .badRequest)
                let message = (json(response.body)["error"] as? [String: Any])?["message"] as? String
                #expect(message == "the list cursor is not a key of this list")
            }
            // No access yet: an empty log, and the proven absence of a count shows it is whole.
            try await client.execute(uri: "/v1/access-log/\(did.value)", method: .get) { response in
                #expect(response.status == .ok)
                let answer = json(response.body)
                #expect((answer["items"] as? [Any])?.isEmpty == true)
                #expect(answer["total"] as? Int == 0)
                #expect(answer["itemsMax"] as? Int == LedgerQueries.listLimitMax)
                let proof = try #require(answer["totalProof"] as? [String: Any])
                #expect(proof["key"] as? String == Hex.encode(StateKey.accessCount(did)))
                #expect(proof["value"] == nil)
                let stateProof = StateProof(
                    key: try Hex.decode(proof["key"] as! String), value: nil, root: try Hash(hex: proof["root"] as! String),
                    proof: try SparseMerkleProof(canonicalBytes: try Hex.decode(proof["proof"] as! String)))
                #expect(stateProof.verify())
            }
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(json(response.body)["height"] as? Int == 1)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let lines = String(buffer: response.body).split(separator: "\n").map(String.init)
                #expect(lines.contains("# TYPE socai_height gauge"))
                #expect(lines.contains { $0 == "socai_height 1" || $0 == "socai_height 1.0" })
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            }
        }
    }
}
