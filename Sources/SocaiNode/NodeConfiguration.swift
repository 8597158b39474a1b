import Foundation
import SocaiCore
import SocaiCrypto

/// Why a node's home directory, configuration or key could not be used.
public struct NodeError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// A file is missing.
        case missing
        /// A file is not valid (JSON shape, field values).
        case invalid
        /// A file already exists and `--force` was not given.
        case alreadyExists
        /// A key file can be read by other users and is not marked test-only.
        case insecurePermissions
        /// A file-system operation failed.
        case io
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation naming the file and the problem.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}

/// A peer a node connects to and accepts connections from.
public struct PeerAddress: Sendable, Equatable, Codable {
    /// The peer's name (for logs).
    public var name: String
    /// The peer's node public key, 64 hex digits; only named keys are accepted.
    public var publicKey: String
    /// `host:port` of the peer's consensus listener.
    public var address: String

    /// Creates a peer entry.
    public init(name: String, publicKey: String, address: String) {
        self.name = name
        self.publicKey = publicKey
        self.address = address
    }
}

/// A node's `config.json`: where its genesis, key and data live and where it listens.
/// Relative paths are resolved against the node's home directory.
public struct NodeConfiguration: Sendable, Equatable, Codable {
    /// The only configuration format version.
    public static let formatVersion = 1
    /// The configuration file's name inside a node home.
    public static let fileName = "config.json"
    /// Largest configuration file read, in bytes.
    public static let fileBytesMax = 1 << 20

    /// Must be 1.
    public var formatVersion: Int
    /// The node's name (for logs and output).
    public var moniker: String
    /// The chain id; must match the genesis file.
    public var chainID: String
    /// Path of the genesis file.
    public var genesisFile: String
    /// Path of the node key file.
    public var nodeKeyFile: String
    /// Directory for the node's databases.
    public var dataDirectory: String
    /// `host:port` the consensus (peer-to-peer) listener binds.
    public var peerListenAddress: String
    /// `host:port` the HTTP API binds.
    public var apiListenAddress: String
    /// The peers this node talks to.
    public var peers: [PeerAddress]
    /// Threads of the node's one SwiftNIO event-loop group, which carries its peer links and
    /// its API connections; absent means `eventLoopThreadsDefault`. The validator's own work
    /// (admission, consensus, execution, storage) runs on Swift's task pool, not here.
    public var eventLoopThreads: Int?
    /// Event-loop threads when the configuration names none: one. The loops only move bytes,
    /// and on the 2-core machine that runs the four local validators a second thread per node
    /// cost more in wakeups and hand-offs than it carried: saturated throughput was 6.5%
    /// higher with one, in five alternated pairs of the network benchmark.
    public static let eventLoopThreadsDefault = 1
    /// Most event-loop threads a configuration may ask for.
    public static let eventLoopThreadsMax = 64
    /// The event-loop threads to run: `eventLoopThreads`, or the default.
    public var eventLoopThreadCount: Int { eventLoopThreads ?? Self.eventLoopThreadsDefault }
    /// Most transactions the mempool holds; absent means `mempoolTransactionsMaxDefault`.
    /// A full mempool answers new submissions with 503 and drops gossiped transactions, which
    /// the peers that hold them still propose.
    public var mempoolTransactionsMax: Int?
    /// Most bytes of encoded transactions the mempool holds; absent means
    /// `mempoolBytesMaxDefault`.
    public var mempoolBytesMax: Int?
    /// Mempool transactions when the configuration names no bound: one full block's worth.
    public static let mempoolTransactionsMaxDefault = Mempool.transactionsMaxDefault
    /// Mempool bytes when the configuration names no bound.
    public static let mempoolBytesMaxDefault = Mempool.bytesMaxDefault
    /// Largest mempool bound in transactions a configuration may ask for.
    public static let mempoolTransactionsMaxLimit = 1_000_000
    /// Largest mempool bound in bytes a configuration may ask for.
    public static let mempoolBytesMaxLimit = 1 << 30
    /// The mempool's bound in transactions: `mempoolTransactionsMax`, or the default.
    public var mempoolTransactionCount: Int { mempoolTransactionsMax ?? Self.mempoolTransactionsMaxDefault }
    /// The mempool's bound in bytes: `mempoolBytesMax`, or the default.
    public var mempoolByteCount: Int { mempoolBytesMax ?? Self.mempoolBytesMaxDefault }
    /// Test-only misbehaviour for the multi-node harness: `"equivocate"` makes the validator
    /// sign a conflicting twin of every vote. Refused unless SOCAI_ALLOW_BYZANTINE=1 is set.
    public var byzantine: String?

    /// Creates a configuration.
    public init(
        moniker: String, chainID: String, genesisFile: String, nodeKeyFile: String = NodeKeyFile.defaultFileName,
        dataDirectory: String = "data", peerListenAddress: String, apiListenAddress: String, peers: [PeerAddress]
    ) {
        formatVersion = Self.formatVersion
        self.moniker = moniker
        self.chainID = chainID
        self.genesisFile = genesisFile
        self.nodeKeyFile = nodeKeyFile
        self.dataDirectory = dataDirectory
        self.peerListenAddress = peerListenAddress
        self.apiListenAddress = apiListenAddress
        self.peers = peers
    }

    /// Throws unless the version is known, the chain id and addresses are well-formed and
    /// every peer key is a public key.
    public func validate() throws(NodeError) {
        guard formatVersion == Self.formatVersion else {
            throw NodeError(.invalid, "config formatVersion \(formatVersion) is unknown (expected \(Self.formatVersion))")
        }
        do throws(FormatError) { _ = try ChainID(chainID) } catch {
            throw NodeError(.invalid, "config chainID: \(error.message)")
        }
        if let eventLoopThreads, !(1...Self.eventLoopThreadsMax).contains(eventLoopThreads) {
            throw NodeError(
                .invalid, "config eventLoopThreads \(eventLoopThreads) is out of range (1 to \(Self.eventLoopThreadsMax))")
        }
        if let mempoolTransactionsMax, !(1...Self.mempoolTransactionsMaxLimit).contains(mempoolTransactionsMax) {
            throw NodeError(
                .invalid,
                "config mempoolTransactionsMax \(mempoolTransactionsMax) is out of range (1 to \(Self.mempoolTransactionsMaxLimit))"
            )
        }
        if let mempoolBytesMax, !(Limits.transactionBytesMax...Self.mempoolBytesMaxLimit).contains(mempoolBytesMax) {
            throw NodeError(
                .invalid,
                "config mempoolBytesMax \(mempoolBytesMax) is out of range (\(Limits.transactionBytesMax), one transaction at "
                    + "its largest, to \(Self.mempoolBytesMaxLimit))")
        }
        for (field, address) in [("peerListenAddress", peerListenAddress), ("apiListenAddress", apiListenAddress)] {
            guard HostPort(address) != nil else {
                throw NodeError(.invalid, "config \(field) \"\(address)\" is not host:port")
            }
        }
        for (index, peer) in peers.enumerated() {
            do throws(FormatError) { _ = try PublicKey(hex: peer.publicKey) } catch {
                throw NodeError(.invalid, "config peers[\(index)] (\(peer.name)): \(error.message)")
            }
            guard HostPort(peer.address) != nil else {
                throw NodeError(.invalid, "config peers[\(index)] (\(peer.name)) address \"\(peer.address)\" is not host:port")
            }
        }
    }
}

/// A `host:port` pair.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    /// Host name or address.
    public let host: String
    /// TCP port, 1 ... 65535.
    public let port: Int

    /// Parses `host:port`; nil when malformed.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    /// `host:port`.
    public var description: String { "\(host):\(port)" }
}

/// A node's key file. Validators run unattended, so the node key is stored unencrypted
/// (as CometBFT's validator key is) and must be mode 0600 unless it is marked test-only.
public struct NodeKeyFile: Sendable, Equatable, Codable {
    /// The default file name inside a node home.
    public static let defaultFileName = "node_key.json"
    /// The file name of a test-only node key: the name itself warns whoever finds it.
    public static let testOnlyFileName = "node_key.test-only.json"
    /// The warning written into every test-only key file.
    public static let testOnlyWarning =
        "TEST ONLY: this key is published in the Socai repository for the local network. Never use it for a real network."

    /// True for keys committed to the repository for the local network.
    public var testOnly: Bool
    /// Why `testOnly` matters, for whoever opens the file.
    public var warning: String?
    /// The Ed25519 public key, 64 hex digits.
    public var publicKey: String
    /// The Ed25519 seed, 64 hex digits.
    public var seed: String

    /// Wraps a signing key.
    public init(key: SigningKey, testOnly: Bool) {
        self.testOnly = testOnly
        warning = testOnly ? Self.testOnlyWarning : nil
        publicKey = Hex.encode(key.publicKey)
        seed = Hex.encode(key.seedBytes())
    }

    /// The signing key, checked against the recorded public key.
    public func signingKey(path: String) throws(NodeError) -> SigningKey {
        let key: SigningKey
        do throws(CryptoError) { key = try SigningKey(seed: Hex.decode(seed, count: Ed25519.seedBytes)) } catch {
            throw NodeError(.invalid, "node key \(path): seed: \(error.message)")
        }
        guard Hex.encode(key.publicKey) == publicKey else {
            throw NodeError(.invalid, "node key \(path): the seed does not give the recorded public key")
        }
        return key
    }
}
