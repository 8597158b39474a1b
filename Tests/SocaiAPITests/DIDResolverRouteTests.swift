import Foundation
import Hummingbird
import HummingbirdTesting
import SocaiCore
import SocaiCrypto
import SocaiDID
import SocaiState
import Testing

@testable import SocaiAPI
@testable import SocaiNode

/// `GET /1.0/identifiers/{did}` over a development node: statuses, negotiation, versions, proofs.
@Suite struct DIDResolverRouteTests {
    let alice = try! SigningKey(seed: SHA256.hash(Array("resolver alice".utf8)))
    let aliceSecond = try! SigningKey(seed: SHA256.hash(Array("resolver alice 2".utf8)))

    func makeApplication(_ directory: APIRouteTests.TemporaryDirectory) throws -> (some ApplicationProtocol, ChainID, Genesis) {
        let chainID = try ChainID("socai-resolver")
        let generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        let genesisPath = directory.path + "/genesis.json"
        let result = try generator.write(
            genesisPath: genesisPath, nodesDirectory: directory.path + "/nodes", overwrite: false)
        let node = try DevelopmentNode(home: try NodeHome(path: result.nodeHomes[0]))
        let genesis = try Genesis(jsonBytes: Array(try Data(contentsOf: URL(fileURLWithPath: genesisPath))))
        return (Application(router: SocaiAPI.router(node: node)), chainID, genesis)
    }

    @Test func resolvesNegotiatesVersionsAndProves() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let (app, chainID, genesis) = try makeApplication(directory)
        let did = DID(initialKey: PublicKey(of: alice))
        let path = "/1.0/identifiers/" + did.value
        try await app.test(.router) { client in
            // Before creation: 404 with the error in the resolution result.
            let missing = try await getResponse(client, path)
            #expect(missing.status == 404)
            #expect(missing.contentType == "application/did-resolution")
            let missingResult = try JSONDecoder().decode(DIDResolutionResult.self, from: missing.body)
            #expect(missingResult.didResolutionMetadata.error == .notFound)

            try await submitCommitted(client, try DIDCreate(did: did).envelope(chainID: chainID, key: alice, nonce: 1))
            try await submitCommitted(client, try keyRotation(of: did, to: aliceSecond, signedBy: alice, chainID: chainID))

            // Default and */*: the JSON-LD document alone.
            for accept in [nil, "*/*", "application/did+ld+json"] as [String?] {
                let answer = try await getResponse(client, path, accept: accept)
                #expect(answer.status == 200)
                #expect(answer.contentType == "application/did+ld+json")
                let document = try JSONDecoder().decode(DIDDocument.self, from: answer.body)
                #expect(document.verificationMethod?.map(\.id) == [did.value + "#key-2"])
            }
            let plain = try await getResponse(client, path, accept: "application/did+json")
            #expect(plain.status == 200)
            #expect(plain.contentType == "application/did+json")
            // The resolution result, in both spellings, with metadata.
            let profile = "application/ld+json;profile=\"https://w3id.org/did-resolution\""
            for accept in ["application/did-resolution", profile] {
                let answer = try await getResponse(client, path, accept: accept)
                #expect(answer.status == 200)
                #expect(answer.contentType == accept)
                let result = try JSONDecoder().decode(DIDResolutionResult.self, from: answer.body)
                #expect(result.didDocumentMetadata.versionId == "2")
                #expect(result.didResolutionMetadata.contentType == "application/did+ld+json")
            }
            let refused = try await getResponse(client, path, accept: "text/html")
            #expect(refused.status == 406)
            let refusedResult = try JSONDecoder().decode(DIDResolutionResult.self, from: refused.body)
            #expect(refusedResult.didResolutionMetadata.error == .representationNotSupported)

            // The older version, by query parameter and percent-encoded in the DID URL.
            let old = try await getResponse(client, path + "?versionId=1", accept: "application/did-resolution")
            let oldResult = try JSONDecoder().decode(DIDResolutionResult.self, from: old.body)
            #expect(oldResult.didDocument?.verificationMethod?.map(\.id) == [did.value + "#key-1"])
            #expect(oldResult.didDocumentMetadata.nextVersionId == "2")
            let encoded = try await getResponse(client, "/1.0/identifiers/" + did.value + "%3FversionId%3D1")
            #expect(encoded.status == 200)
            #expect(
                try JSONDecoder().decode(DIDDocument.self, from: encoded.body).verificationMethod?.first?.id == did.value
                    + "#key-1")

            // A proof that verifies against the genesis file alone.
            let proven = try await getResponse(client, path + "?proof=true", accept: "application/did-resolution")
            let provenResult = try JSONDecoder().decode(DIDResolutionResult.self, from: proven.body)
            #expect(provenResult.didResolutionMetadata.proof != nil)
            #expect(try DIDProofVerifier.verify(provenResult, did: did, genesis: genesis) == 2)
            let provenOld = try await getResponse(client, path + "?proof=true&versionId=1", accept: "application/did-resolution")
            let provenOldResult = try JSONDecoder().decode(DIDResolutionResult.self, from: provenOld.body)
            #expect(try DIDProofVerifier.verify(provenOldResult, did: did, genesis: genesis) == 2)

            // Every error status.
            let errorCases: [(String, Int, DIDResolutionError)] = [
                ("/1.0/identifiers/not-a-did", 400, .invalidDid),
                ("/1.0/identifiers/did:socai:0O", 400, .invalidDid),
                (path + "?versionId=x", 400, .invalidOptions),
                (path + "?versionTime=later", 400, .invalidOptions),
                (path + "?versionId=3", 404, .notFound),
                ("/1.0/identifiers/did:socai:" + Base58.encode(Array(repeating: 9, count: 16)), 404, .notFound),
                ("/1.0/identifiers/did:web:example.com", 501, .methodNotSupported),
            ]
            for (errorPath, status, code) in errorCases {
                let answer = try await getResponse(client, errorPath)
                #expect(answer.status == status, "\(errorPath)")
                let result = try JSONDecoder().decode(DIDResolutionResult.self, from: answer.body)
                #expect(result.didResolutionMetadata.error == code, "\(errorPath)")
            }

            // did:key resolves on every node without the ledger.
            let key = try await getResponse(client, "/1.0/identifiers/" + DIDKey.identifier(for: PublicKey(of: alice)))
            #expect(key.status == 200)

            // Deactivated: 410 with its metadata, whatever representation was asked for.
            try await submitCommitted(client, try DIDDeactivate(did: did).envelope(chainID: chainID, key: aliceSecond, nonce: 1))
            let gone = try await getResponse(client, path, accept: "application/did+json")
            #expect(gone.status == 410)
            let goneResult = try JSONDecoder().decode(DIDResolutionResult.self, from: gone.body)
            #expect(goneResult.didDocumentMetadata.deactivated == true)
            #expect(goneResult.didDocumentMetadata.versionId == "3")
            let before = try await getResponse(client, path + "?versionId=2")
            #expect(before.status == 200)
            // A proof after the chain grew (the node extends its scan of validator changes).
            let provenGone = try await getResponse(client, path + "?proof=true", accept: "application/did-resolution")
            #expect(provenGone.status == 410)
            let provenGoneResult = try JSONDecoder().decode(DIDResolutionResult.self, from: provenGone.body)
            #expect(try DIDProofVerifier.verify(provenGoneResult, did: did, genesis: genesis) == 3)
        }
    }

    /// A node whose store fails: the answer is a 500 that names no internals.
    struct FailingNode: NodeService {
        struct StoreFailure: Error, CustomStringConvertible {
            var description: String { "secret path /var/lib/socai/state.sqlite is corrupt" }
        }
        func submit(_ envelope: TransactionEnvelope) async throws -> Hash { throw StoreFailure() }
        func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction? { nil }
        func committedTransaction(_ hash: Hash) async -> CommittedTransaction? { nil }
        func status() async -> NodeStatus {
            NodeStatus(
                chainID: "", nodeKey: "", height: 0, latestBlockHash: "", stateRoot: "", syncing: false, peers: [],
                validators: [], round: 0, mempoolSize: 0)
        }
        func block(at height: UInt64) async throws -> (Block, CommitCertificate)? { throw StoreFailure() }
        func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result {
            throw StoreFailure()
        }
        func isReady() async -> Bool { false }
        func metricsText() async -> String { "" }
    }

    @Test func internalErrorsDoNotLeak() async throws {
        let app = Application(router: SocaiAPI.router(node: FailingNode()))
        try await app.test(.router) { client in
            let answer = try await getResponse(
                client, "/1.0/identifiers/did:socai:" + Base58.encode(Array(repeating: 9, count: 16)))
            #expect(answer.status == 500)
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(!text.contains("secret") && !text.contains("sqlite"))
            let result = try JSONDecoder().decode(DIDResolutionResult.self, from: answer.body)
            #expect(result.didResolutionMetadata.error == .internalError)
            // The API's own routes answer a store failure with the JSON error, not an empty 500.
            let block = try await getResponse(client, "/v1/blocks/1")
            #expect(block.status == 500)
            #expect(block.contentType == "application/json; charset=utf-8")
            let blockText = String(decoding: block.body, as: UTF8.self)
            #expect(!blockText.contains("secret") && !blockText.contains("sqlite"))
            let error = (try JSONSerialization.jsonObject(with: block.body) as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "internal")
            #expect(error?["message"] as? String == "the node failed to answer; see its log")
        }
    }
}
