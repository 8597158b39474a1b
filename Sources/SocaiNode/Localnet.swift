import Foundation
import SocaiCore
import SocaiCrypto

/// Writes a genesis file and one home directory per validator for a network on this machine.
public struct LocalnetGenerator: Sendable {
    /// Most validators a local network may have.
    public static let validatorsMax = 32

    /// The chain id.
    public var chainID: ChainID
    /// How many validators (and node homes) to create.
    public var validatorCount: Int
    /// Voting power of each validator.
    public var power: UInt64 = 10
    /// Genesis time, milliseconds since the Unix epoch.
    public var genesisTimeMilliseconds: UInt64
    /// First consensus port; node i listens on `peerPortBase + i - 1`.
    public var peerPortBase: Int = 26611
    /// First HTTP port; node i serves on `apiPortBase + i - 1`.
    public var apiPortBase: Int = 26711
    /// Mark the generated keys test-only (they are meant to be committed and published).
    public var testOnlyKeys: Bool = true
    /// Organizations registered from genesis.
    public var organizations: [Genesis.OrganizationEntry] = []
    /// Accounts funded at genesis.
    public var accounts: [Genesis.AccountEntry] = []
    /// Governance keys (hex) held elsewhere, e.g. in operators' keystores; when empty, one
    /// governance key is generated and written beside the node homes.
    public var governanceKeys: [String] = []
    /// How many governance keys must approve an action.
    public var governanceThreshold: UInt16 = 1

    /// Creates a generator.
    public init(chainID: ChainID, validatorCount: Int, genesisTimeMilliseconds: UInt64) {
        self.chainID = chainID
        self.validatorCount = validatorCount
        self.genesisTimeMilliseconds = genesisTimeMilliseconds
    }

    /// What was written.
    public struct Result: Sendable {
        /// The genesis written.
        public let genesis: Genesis
        /// Each node's home directory, node1 first.
        public let nodeHomes: [String]
        /// The governance key file written.
        public let governanceKeyPath: String?
    }

    /// Writes `genesisPath`, `<nodesDirectory>/node1 …` and a governance key; refuses to
    /// overwrite existing files unless `overwrite` is true.
    public func write(genesisPath: String, nodesDirectory: String, overwrite: Bool) throws(NodeError) -> Result {
        guard (1...Self.validatorsMax).contains(validatorCount) else {
            throw NodeError(.invalid, "a local network has 1 to \(Self.validatorsMax) validators, not \(validatorCount)")
        }
        guard peerPortBase > 0, peerPortBase + validatorCount <= 65535, apiPortBase > 0, apiPortBase + validatorCount <= 65535
        else {
            throw NodeError(.invalid, "port bases \(peerPortBase) and \(apiPortBase) leave no room for \(validatorCount) nodes")
        }
        let names = (1...validatorCount).map { "node\($0)" }
        let homes = names.map { NodeHome.join(nodesDirectory, $0) }
        let keyFileName = testOnlyKeys ? NodeKeyFile.testOnlyFileName : NodeKeyFile.defaultFileName
        let governancePath = NodeHome.join(
            NodeHome.join(nodesDirectory, "governance"), testOnlyKeys ? "governance_key.test-only.json" : "governance_key.json")
        if !overwrite {
            for path in [genesisPath, governancePath] + homes.map({ NodeHome.join($0, NodeConfiguration.fileName) })
            where FileManager.default.fileExists(atPath: path) {
                throw NodeError(.alreadyExists, "\(path) already exists; pass --force to replace the local network")
            }
        }
        let keys = names.map { _ in SigningKey() }
        let generatedGovernanceKey = governanceKeys.isEmpty ? SigningKey() : nil
        let governanceKeyList = governanceKeys.isEmpty ? [Hex.encode(generatedGovernanceKey!.publicKey)] : governanceKeys
        let file = Genesis.File(
            chainID: chainID.value, genesisTimeMilliseconds: genesisTimeMilliseconds,
            validators: zip(names, keys).map {
                Genesis.ValidatorEntry(name: $0, publicKey: Hex.encode($1.publicKey), power: power)
            },
            governance: Genesis.Governance(keys: governanceKeyList, threshold: governanceThreshold),
            organizations: organizations, accounts: accounts)
        let genesis: Genesis
        do throws(GenesisError) { genesis = try Genesis(file: file) } catch {
            throw NodeError(.invalid, "generated genesis is invalid: \(error.message)")
        }
        try Self.writeFile(genesis.jsonBytes(), to: genesisPath, mode: 0o644)
        if let generatedGovernanceKey {
            try Self.writeFile(
                Self.json(NodeKeyFile(key: generatedGovernanceKey, testOnly: testOnlyKeys)), to: governancePath, mode: 0o600)
        }

        let genesisAbsolute = URL(fileURLWithPath: genesisPath).standardizedFileURL.path
        for (index, home) in homes.enumerated() {
            let peers = homes.indices.filter { $0 != index }.map { other in
                PeerAddress(
                    name: names[other], publicKey: Hex.encode(keys[other].publicKey), address: "127.0.0.1:\(peerPortBase + other)"
                )
            }
            let homeAbsolute = URL(fileURLWithPath: home).standardizedFileURL.path
            let configuration = NodeConfiguration(
                moniker: names[index], chainID: chainID.value,
                genesisFile: Self.relativePath(from: homeAbsolute, to: genesisAbsolute),
                nodeKeyFile: keyFileName, peerListenAddress: "127.0.0.1:\(peerPortBase + index)",
                apiListenAddress: "127.0.0.1:\(apiPortBase + index)",
                peers: peers)
            try Self.writeFile(Self.json(configuration), to: NodeHome.join(home, NodeConfiguration.fileName), mode: 0o644)
            try Self.writeFile(
                Self.json(NodeKeyFile(key: keys[index], testOnly: testOnlyKeys)), to: NodeHome.join(home, keyFileName),
                mode: 0o600)
        }
        return Result(genesis: genesis, nodeHomes: homes, governanceKeyPath: generatedGovernanceKey == nil ? nil : governancePath)
    }

    static func json(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(value)) + [UInt8(ascii: "\n")]
    }

    static func writeFile(_ bytes: [UInt8], to path: String, mode: Int) throws(NodeError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        } catch {
            throw NodeError(.io, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// A relative path from directory `from` to file `to` (both absolute), so committed
    /// configurations work wherever the repository is cloned.
    static func relativePath(from directory: String, to file: String) -> String {
        let base = directory.split(separator: "/")
        let target = file.split(separator: "/")
        var common = 0
        while common < base.count, common < target.count, base[common] == target[common] { common += 1 }
        let ups = Array(repeating: "..", count: base.count - common)
        return (ups + target[common...].map(String.init)).joined(separator: "/")
    }
}
