import Foundation
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNode

final class TemporaryDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-node-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct LocalnetTests {
    @Test func writesHomesThatLoadAndAgreeWithGenesis() throws {
        let directory = TemporaryDirectory()
        let generator = LocalnetGenerator(chainID: try ChainID("socai-unit"), validatorCount: 4, genesisTimeMilliseconds: 1)
        let result = try generator.write(
            genesisPath: directory.path + "/genesis/net.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        #expect(result.nodeHomes.count == 4)
        var nodeKeys: Set<PublicKey> = []
        for (index, path) in result.nodeHomes.enumerated() {
            let home = try NodeHome(path: path)
            #expect(home.configuration.moniker == "node\(index + 1)")
            #expect(home.configuration.peers.count == 3)
            #expect(home.configuration.genesisFile == "../../genesis/net.json")
            #expect(try home.loadGenesis() == result.genesis)
            let key = PublicKey(of: try home.loadNodeKey())
            #expect(result.genesis.validatorSet.validator(for: key) != nil)
            nodeKeys.insert(key)
            // A home's peers are exactly the other validators.
            let peerKeys = Set(try home.configuration.peers.map { try PublicKey(hex: $0.publicKey) })
            #expect(!peerKeys.contains(key))
            #expect(peerKeys.count == 3)
        }
        #expect(nodeKeys.count == 4)
        // Overwriting needs consent.
        #expect(throws: NodeError.self) {
            _ = try generator.write(
                genesisPath: directory.path + "/genesis/net.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        }
    }

    @Test func refusesAProductionKeyOthersCanRead() throws {
        let directory = TemporaryDirectory()
        var generator = LocalnetGenerator(chainID: try ChainID("socai-unit"), validatorCount: 1, genesisTimeMilliseconds: 1)
        generator.testOnlyKeys = false
        let result = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let home = try NodeHome(path: result.nodeHomes[0])
        #expect(home.configuration.nodeKeyFile == NodeKeyFile.defaultFileName)
        _ = try home.loadNodeKey()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: home.nodeKeyPath)
        #expect(throws: NodeError.self) { _ = try home.loadNodeKey() }
    }

    @Test func computesRelativePaths() {
        #expect(LocalnetGenerator.relativePath(from: "/a/Nodes/node1", to: "/a/Genesis/x.json") == "../../Genesis/x.json")
        #expect(LocalnetGenerator.relativePath(from: "/a", to: "/a/b.json") == "b.json")
    }
}

@Suite struct ConfigurationTests {
    func configuration() -> NodeConfiguration {
        NodeConfiguration(
            moniker: "n", chainID: "socai-unit", genesisFile: "g.json", peerListenAddress: "127.0.0.1:1",
            apiListenAddress: "127.0.0.1:2", peers: [])
    }

    @Test func acceptsAValidConfiguration() throws {
        try configuration().validate()
    }

    @Test func rejectsBadFields() {
        var badChain = configuration()
        badChain.chainID = "Not A Chain"
        var badAddress = configuration()
        badAddress.apiListenAddress = "127.0.0.1"
        var badPort = configuration()
        badPort.peerListenAddress = "127.0.0.1:70000"
        var badPeer = configuration()
        badPeer.peers = [PeerAddress(name: "p", publicKey: "00", address: "127.0.0.1:3")]
        var badVersion = configuration()
        badVersion.formatVersion = 9
        for candidate in [badChain, badAddress, badPort, badPeer, badVersion] {
            #expect(throws: NodeError.self) { try candidate.validate() }
        }
    }

    @Test func eventLoopThreadsDefaultToOneAndStayInRange() throws {
        var configuration = configuration()
        #expect(configuration.eventLoopThreadCount == 1)
        // An existing config.json without the field reads as the default.
        let decoded = try JSONDecoder().decode(NodeConfiguration.self, from: try JSONEncoder().encode(configuration))
        #expect(decoded.eventLoopThreads == nil && decoded.eventLoopThreadCount == NodeConfiguration.eventLoopThreadsDefault)
        configuration.eventLoopThreads = 4
        try configuration.validate()
        #expect(configuration.eventLoopThreadCount == 4)
        for threads in [0, -1, NodeConfiguration.eventLoopThreadsMax + 1] {
            configuration.eventLoopThreads = threads
            let error = try #require(throws: NodeError.self) { try configuration.validate() }
            #expect(error.message == "config eventLoopThreads \(threads) is out of range (1 to 64)")
        }
    }

    @Test func mempoolBoundsDefaultAndStayInRange() throws {
        var configuration = configuration()
        // An existing config.json without the fields reads as the defaults.
        let decoded = try JSONDecoder().decode(NodeConfiguration.self, from: try JSONEncoder().encode(configuration))
        #expect(decoded.mempoolTransactionsMax == nil && decoded.mempoolBytesMax == nil)
        #expect(decoded.mempoolTransactionCount == 10_000 && decoded.mempoolByteCount == 64 << 20)
        configuration.mempoolTransactionsMax = 2
        configuration.mempoolBytesMax = 1 << 20
        try configuration.validate()
        #expect(configuration.mempoolTransactionCount == 2 && configuration.mempoolByteCount == 1 << 20)
        for count in [0, -5, NodeConfiguration.mempoolTransactionsMaxLimit + 1] {
            configuration.mempoolTransactionsMax = count
            let error = try #require(throws: NodeError.self) { try configuration.validate() }
            #expect(error.message == "config mempoolTransactionsMax \(count) is out of range (1 to 1000000)")
        }
        configuration.mempoolTransactionsMax = nil
        // A mempool that cannot hold one transaction at its largest would refuse it forever.
        for bytes in [Limits.transactionBytesMax - 1, NodeConfiguration.mempoolBytesMaxLimit + 1] {
            configuration.mempoolBytesMax = bytes
            let error = try #require(throws: NodeError.self) { try configuration.validate() }
            #expect(error.message.hasPrefix("config mempoolBytesMax \(bytes) is out of range (\(Limits.transactionBytesMax)"))
        }
    }

    @Test func aMissingHomeIsAClearError() {
        do {
            _ = try NodeHome(path: "/nonexistent/socai")
            Issue.record("opened a missing home")
        } catch {
            #expect(error.code == .missing)
            #expect(error.message.contains("/nonexistent/socai/config.json"))
        }
    }
}
