import Foundation
import SocaiCore
import SocaiCrypto
import SocaiStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's home directory (`--home`): its configuration, and the files it points to.
public struct NodeHome: Sendable {
    /// The home directory.
    public let path: String
    /// The parsed, validated configuration.
    public let configuration: NodeConfiguration

    /// Reads and validates `<path>/config.json`.
    public init(path: String) throws(NodeError) {
        self.path = path
        let configPath = Self.join(path, NodeConfiguration.fileName)
        let bytes = try Self.read(configPath, maximum: NodeConfiguration.fileBytesMax)
        do {
            configuration = try JSONDecoder().decode(NodeConfiguration.self, from: Data(bytes))
        } catch {
            throw NodeError(.invalid, "\(configPath) is not a valid node configuration: \(error)")
        }
        try configuration.validate()
    }

    /// Resolves a configuration path against the home directory.
    public func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : Self.join(path, relative)
    }

    /// The genesis file's path.
    public var genesisPath: String { resolve(configuration.genesisFile) }
    /// The data directory's path.
    public var dataPath: String { resolve(configuration.dataDirectory) }
    /// The block store's path.
    public var blockStorePath: String { Self.join(dataPath, "chain.sqlite") }
    /// The node key file's path.
    public var nodeKeyPath: String { resolve(configuration.nodeKeyFile) }

    /// Reads and validates the genesis file, which must be for the configured chain.
    public func loadGenesis() throws(NodeError) -> Genesis {
        let genesis = try Self.loadGenesis(at: genesisPath)
        guard genesis.chainID.value == configuration.chainID else {
            throw NodeError(
                .invalid,
                "genesis \(genesisPath) is for chain \(genesis.chainID), but \(path) is configured for \(configuration.chainID)")
        }
        return genesis
    }

    /// Reads and validates a genesis file.
    public static func loadGenesis(at path: String) throws(NodeError) -> Genesis {
        let bytes = try read(path, maximum: Limits.genesisFileBytesMax)
        do throws(GenesisError) { return try Genesis(jsonBytes: bytes) } catch {
            throw NodeError(.invalid, "\(path): \(error.message)")
        }
    }

    /// Reads the node key; a key others can read is refused unless it is marked test-only.
    public func loadNodeKey() throws(NodeError) -> SigningKey {
        let keyPath = nodeKeyPath
        let bytes = try Self.read(keyPath, maximum: 4096)
        let file: NodeKeyFile
        do { file = try JSONDecoder().decode(NodeKeyFile.self, from: Data(bytes)) } catch {
            throw NodeError(.invalid, "\(keyPath) is not a valid node key file")
        }
        var status = stat()
        if !file.testOnly, stat(keyPath, &status) == 0, status.st_mode & 0o077 != 0 {
            throw NodeError(.insecurePermissions, "node key \(keyPath) is readable by other users; run chmod 600 on it")
        }
        return try file.signingKey(path: keyPath)
    }

    /// Opens the node's block store, creating it for the genesis if it does not exist.
    public func openBlockStore(genesis: Genesis) throws(NodeError) -> BlockStore {
        do {
            try FileManager.default.createDirectory(
                atPath: dataPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw NodeError(.io, "cannot create \(dataPath): \(error.localizedDescription)")
        }
        do throws(StoreError) {
            return try BlockStore(path: blockStorePath, chainID: genesis.chainID, genesisHash: genesis.hash)
        } catch {
            throw NodeError(.io, "\(blockStorePath): \(error.message)")
        }
    }

    static func join(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    static func read(_ path: String, maximum: Int) throws(NodeError) -> [UInt8] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw NodeError(.missing, "\(path) does not exist")
        }
        if let size = attributes[.size] as? Int, size > maximum {
            throw NodeError(.invalid, "\(path) is \(size) bytes; the maximum is \(maximum)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError(.io, "cannot read \(path)")
        }
        return Array(data)
    }
}
