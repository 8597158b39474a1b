import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SocaiCore
import SocaiCrypto
import SocaiDID
import SocaiState
import Testing

@testable import SocaiAPI
@testable import SocaiNode

/// The resolver's per-height answer cache: answers are reused only while the committed height
/// stands, and a commit (a rotation, a creation, a deactivation) is visible at once.
@Suite struct DIDResponseCacheTests {
    let alice = try! SigningKey(seed: SHA256.hash(Array("cache alice".utf8)))
    let aliceSecond = try! SigningKey(seed: SHA256.hash(Array("cache alice 2".utf8)))

    /// Counts the node's state queries, so a test can tell a cached answer from a computed one.
    final class QueryCounter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0

        func increment() {
            lock.lock()
            count += 1
            lock.unlock()
        }

        var value: Int {
            lock.lock()
            defer { lock.unlock() }
            return count
        }
    }

    /// A development node that counts queries and publishes its height only when asked to.
    struct CountingNode: NodeService {
        let node: DevelopmentNode
        let counter: QueryCounter
        let publishesHeight: Bool

        func submit(_ envelope: TransactionEnvelope) async throws -> Hash { try await node.submit(envelope) }
        func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction? {
            await node.waitForCommit(hash, timeoutMilliseconds: timeoutMilliseconds)
        }
        func committedTransaction(_ hash: Hash) async -> CommittedTransaction? { await node.committedTransaction(hash) }
        func status() async -> NodeStatus { await node.status() }
        func block(at height: UInt64) async throws -> (Block, CommitCertificate)? { try await node.block(at: height) }
        func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result {
            counter.increment()
            return try await node.query(body)
        }
        func isReady() async -> Bool { true }
        func metricsText() async -> String { "" }
        func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet? {
            try await node.validatorSet(inForceAt: height)
        }
        var committedHeightWatch: CommittedHeightWatch? { publishesHeight ? node.committedHeightWatch : nil }
    }

    func makeApplication(_ directory: APIRouteTests.TemporaryDirectory, publishesHeight: Bool) throws -> (
        some ApplicationProtocol, ChainID, QueryCounter, DevelopmentNode
    ) {
        let chainID = try ChainID("socai-cache")
        let generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        let result = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let node = try DevelopmentNode(home: try NodeHome(path: result.nodeHomes[0]))
        let counter = QueryCounter()
        let counting = CountingNode(node: node, counter: counter, publishesHeight: publishesHeight)
        return (Application(router: SocaiAPI.router(node: counting)), chainID, counter, node)
    }

    func keyIDs(_ body: Data) throws -> [String] {
        try JSONDecoder().decode(DIDDocument.self, from: body).verificationMethod?.map(\.id) ?? []
    }

    @Test func cachedAnswerChangesWhenARotationCommits() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let (app, chainID, counter, node) = try makeApplication(directory, publishesHeight: true)
        let did = DID(initialKey: PublicKey(of: alice))
        let path = "/1.0/identifiers/" + did.value
        try await app.test(.router) { client in
            // Not found, and the 404 is cached for this height only.
            #expect(try await getResponse(client, path).status == 404)
            #expect(try await getResponse(client, path).status == 404)
            #expect(counter.value == 1)

            try await submitCommitted(client, try DIDCreate(did: did).envelope(chainID: chainID, key: alice, nonce: 1))
            let queriesAfterCreate = counter.value
            let created = try await getResponse(client, path)
            #expect(created.status == 200)
            #expect(try keyIDs(created.body) == [did.value + "#key-1"])
            #expect(counter.value == queriesAfterCreate + 1)
            // The same request again: served without a query, byte for byte the same.
            let again = try await getResponse(client, path)
            #expect(again.body == created.body)
            #expect(counter.value == queriesAfterCreate + 1)
            // Another representation or version is another answer.
            let result = try await getResponse(client, path, accept: "application/did-resolution")
            #expect(try JSONDecoder().decode(DIDResolutionResult.self, from: result.body).didDocumentMetadata.versionId == "1")
            #expect(counter.value == queriesAfterCreate + 2)

            // The rotation commits: the very next resolution shows the new key and not the old.
            try await submitCommitted(client, try keyRotation(of: did, to: aliceSecond, signedBy: alice, chainID: chainID))
            let rotated = try await getResponse(client, path)
            #expect(rotated.status == 200)
            #expect(try keyIDs(rotated.body) == [did.value + "#key-2"])
            let rotatedResult = try await getResponse(client, path, accept: "application/did-resolution")
            #expect(
                try JSONDecoder().decode(DIDResolutionResult.self, from: rotatedResult.body).didDocumentMetadata.versionId == "2")
            // The old version is still there by versionId.
            #expect(try keyIDs(try await getResponse(client, path + "?versionId=1").body) == [did.value + "#key-1"])

            // Deactivation: the cached 200 gives way to a 410.
            try await submitCommitted(client, try DIDDeactivate(did: did).envelope(chainID: chainID, key: aliceSecond, nonce: 1))
            #expect(try await getResponse(client, path).status == 410)
            #expect(node.committedHeightWatch?.value == 3)
        }
    }

    @Test func nodeWithoutPublishedHeightComputesEveryAnswer() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let (app, chainID, counter, _) = try makeApplication(directory, publishesHeight: false)
        let did = DID(initialKey: PublicKey(of: alice))
        try await app.test(.router) { client in
            try await submitCommitted(client, try DIDCreate(did: did).envelope(chainID: chainID, key: alice, nonce: 1))
            let before = counter.value
            for _ in 0..<3 { #expect(try await getResponse(client, "/1.0/identifiers/" + did.value).status == 200) }
            #expect(counter.value == before + 3)
        }
    }

    @Test func developmentNodePublishesEachCommit() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let (_, chainID, _, node) = try makeApplication(directory, publishesHeight: true)
        #expect(node.committedHeightWatch?.value == 0)
        let did = DID(initialKey: PublicKey(of: alice))
        _ = try await node.submit(try DIDCreate(did: did).envelope(chainID: chainID, key: alice, nonce: 1))
        #expect(node.committedHeightWatch?.value == 1)
        #expect(await node.status().height == 1)
    }

    @Test func didKeyDocumentsAreCachedAndErrorsAreNot() async throws {
        let directory = APIRouteTests.TemporaryDirectory()
        let (_, _, _, node) = try makeApplication(directory, publishesHeight: true)
        let cache = DIDResponseCache()
        func resolve(_ did: String, on resolvingNode: some NodeService) async -> Int {
            let response = await DIDResolverRoutes.resolve(
                node: resolvingNode, index: ValidatorChangeIndex(node: resolvingNode), cache: cache, did: did, accept: nil,
                versionId: nil, versionTime: nil, withProof: false)
            return Int(response.status.code)
        }
        let keyDID = DIDKey.identifier(for: PublicKey(of: alice))
        #expect(await resolve(keyDID, on: node) == 200)
        #expect(cache.count == 1)
        let held = try #require(cache.answer(for: key(keyDID), atHeight: 0))
        #expect(try JSONDecoder().decode(DIDDocument.self, from: Data(held.body.readableBytesView)).id == keyDID)
        #expect(await resolve(keyDID, on: node) == 200)
        #expect(cache.count == 1)
        // Malformed identifiers and unsupported methods are answered, never held.
        #expect(await resolve("did:key:z6MkNotAKey", on: node) == 400)
        #expect(await resolve("did:web:example.com", on: node) == 501)
        #expect(cache.count == 1)
        // A node that publishes no height gets no caching at all.
        let unpublished = CountingNode(node: node, counter: QueryCounter(), publishesHeight: false)
        let otherKey = DIDKey.identifier(for: PublicKey(of: aliceSecond))
        #expect(await resolve(otherKey, on: unpublished) == 200)
        #expect(cache.answer(for: key(otherKey), atHeight: 0) == nil)
    }

    func answer(_ text: String) -> DIDResponseCache.Answer {
        DIDResponseCache.Answer(status: 200, mediaType: "application/did+ld+json", body: ByteBuffer(string: text))
    }

    func key(_ did: String, versionId: String? = nil) -> DIDResponseCache.Key {
        DIDResponseCache.Key(did: did, representation: .documentJSONLD, versionId: versionId, versionTime: nil, withProof: false)
    }

    @Test func cacheHoldsOneHeight() {
        let cache = DIDResponseCache()
        cache.store(answer("at 5"), for: key("did:socai:a"), atHeight: 5)
        #expect(cache.answer(for: key("did:socai:a"), atHeight: 5)?.body == ByteBuffer(string: "at 5"))
        // Any other height misses; so does another version of the same DID.
        #expect(cache.answer(for: key("did:socai:a"), atHeight: 6) == nil)
        #expect(cache.answer(for: key("did:socai:a"), atHeight: 4) == nil)
        #expect(cache.answer(for: key("did:socai:a", versionId: "1"), atHeight: 5) == nil)
        // An answer computed at an older height than the held ones is dropped.
        cache.store(answer("at 4"), for: key("did:socai:b"), atHeight: 4)
        #expect(cache.answer(for: key("did:socai:b"), atHeight: 4) == nil)
        #expect(cache.count == 1)
        // A newer height drops everything held.
        cache.store(answer("at 6"), for: key("did:socai:b"), atHeight: 6)
        #expect(cache.count == 1)
        #expect(cache.answer(for: key("did:socai:a"), atHeight: 6) == nil)
        #expect(cache.answer(for: key("did:socai:b"), atHeight: 6)?.body == ByteBuffer(string: "at 6"))
    }

    @Test func cacheStaysWithinItsBounds() {
        let cache = DIDResponseCache()
        for index in 0..<(DIDResponseCache.entriesMax + 10) {
            cache.store(answer("\(index)"), for: key("did:socai:\(index)"), atHeight: 1)
            #expect(cache.count <= DIDResponseCache.entriesMax)
        }
        // Full, it started over: the latest answers are held.
        let last = DIDResponseCache.entriesMax + 9
        #expect(cache.answer(for: key("did:socai:\(last)"), atHeight: 1) != nil)
        #expect(cache.count == 10)
        // Keys too long to be worth holding are not held.
        let long = "did:socai:" + String(repeating: "x", count: DIDResponseCache.keyFieldBytesMax)
        cache.store(answer("long"), for: key(long), atHeight: 1)
        #expect(cache.answer(for: key(long), atHeight: 1) == nil)
    }

    @Test func heightWatchPublishes() {
        let watch = CommittedHeightWatch(height: 3)
        #expect(watch.value == 3)
        watch.publish(3)
        watch.publish(7)
        #expect(watch.value == 7)
    }
}
