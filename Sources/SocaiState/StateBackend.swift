import SocaiCore

/// Read access to committed ledger state. `SocaiStore` implements it over SQLite; tests use
/// `InMemoryStateBackend`. The state layer never writes: it returns `StateChanges` for the
/// caller to persist, in the same SQLite transaction as the block.
public protocol StateBackend: AnyObject {
    /// The value stored under `key`, or nil.
    func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]?
    /// Up to `limit` entries whose keys start with `prefix` and sort after `after` (if given), ascending.
    func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(key: [UInt8], value: [UInt8])]
    /// The root of the state tree over every entry.
    var stateRoot: Hash { get }
    /// Where the root's node is stored (unused while the state is empty).
    var stateRootLocation: UInt64 { get }
    /// The state tree's nodes, for updates and proofs.
    var treeNodes: any SparseMerkleNodeSource { get }
    /// The tree update for a block's `changes` (each key once, in any order), at `version`,
    /// when the backend keeps a tree of its own and computes the update itself (the auditor's replay
    /// does); nil sends the caller to `SparseMerkleTree` over `treeNodes`. The root must be
    /// the one docs/FORMAT.md defines; created and stale nodes may be left empty.
    func updatedTree(_ changes: [SparseMerkleChange], version: UInt64) throws(StateError) -> SparseMerkleUpdate?
    /// The committed value under `key` decoded as `Record`, or nil when there is none. A
    /// backend may keep what it decoded beside the bytes, so that a record read by many
    /// transactions (a DID document, read by every transaction its owner signs) is decoded
    /// once; it must then return exactly what decoding its current bytes would.
    func record<Record: StateRecord>(_ type: Record.Type, forKey key: [UInt8]) throws(StateError) -> Record?
}

extension StateBackend {
    /// The current root and where its node is stored: where a tree over `treeNodes` starts.
    public var stateRootReference: SparseMerkleNodeReference {
        SparseMerkleNodeReference(hash: stateRoot, location: stateRootLocation)
    }

    /// Decodes the bytes `value(forKey:)` returns, every time.
    public func record<Record: StateRecord>(_ type: Record.Type, forKey key: [UInt8]) throws(StateError) -> Record? {
        guard let bytes = try value(forKey: key) else { return nil }
        return try StateRecordDecoding.decode(Record.self, bytes, key: key)
    }

    /// No tree of its own: updates go through `SparseMerkleTree` over `treeNodes`.
    public func updatedTree(_ changes: [SparseMerkleChange], version: UInt64) throws(StateError) -> SparseMerkleUpdate? {
        nil
    }
}

/// The effect of executing a block (or genesis): key changes and the state-tree update.
public struct StateChanges: Sendable, Equatable {
    /// Every changed key with its new value (nil: deleted), ascending by tree key
    /// (`StateKey.treeKey`), the order in which the tree update takes them.
    public let values: [StateEntryChange]
    /// The tree update: the new root, where it is stored, and the nodes created, in the
    /// deterministic order the update made them, each with its location. Old nodes are
    /// never removed. No nodes when the backend computed the update itself (`updatedTree`).
    public let tree: SparseMerkleUpdate
    /// Each changed key's place in the tree (`StateKey.treeKey`), in the order of `values`:
    /// the update hashed them already, and a store that keeps values beside their leaves
    /// matches leaves to keys by them.
    public let treeKeys: [Hash]

    /// Creates a change set; `treeKeys`, when given, must be the tree keys of `values`, in
    /// order (they are computed when not).
    public init(values: [StateEntryChange], tree: SparseMerkleUpdate, treeKeys: [Hash]? = nil) {
        precondition(treeKeys.map { $0.count == values.count } ?? true, "a tree key for each changed value")
        self.values = values
        self.tree = tree
        self.treeKeys = treeKeys ?? values.map { StateKey.treeKey($0.key) }
    }

    /// Tree nodes created, each to be stored at its location.
    public var treeNodes: [SparseMerkleNodeEntry] { tree.createdNodes }
    /// The state root after the changes.
    public var stateRoot: Hash { tree.root }
}

/// One changed state entry.
public struct StateEntryChange: Sendable, Equatable {
    /// The key.
    public let key: [UInt8]
    /// The new value; nil when deleted.
    public let value: [UInt8]?

    /// Creates a change.
    public init(key: [UInt8], value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// One state-tree node to persist, with where it goes.
public struct SparseMerkleNodeEntry: Sendable, Equatable {
    /// The node's hash.
    public let hash: Hash
    /// Where the node is stored (`SparseMerkleNodeLocation`).
    public let location: UInt64
    /// The node with its children's locations.
    public let stored: SparseMerkleStoredNode

    /// Creates an entry; `reference.hash` must be the node's hash.
    public init(_ reference: SparseMerkleNodeReference, stored: SparseMerkleStoredNode) {
        self.hash = reference.hash
        self.location = reference.location
        self.stored = stored
    }

    /// The node.
    public var node: SparseMerkleNode { stored.node }
    /// Where the left child is stored (0 for a leaf or an empty child).
    public var leftLocation: UInt64 { stored.leftLocation }
    /// Where the right child is stored (0 for a leaf or an empty child).
    public var rightLocation: UInt64 { stored.rightLocation }
    /// The node's 65 bytes, as stored.
    public var bytes: [UInt8] { node.canonicalBytes }
}

/// Decoding of stored state values, shared by every reader so that a value that does not
/// decode is reported the same way wherever it is read.
public enum StateRecordDecoding {
    /// `bytes`, stored under `key`, decoded as `Record`; a stored value that does not decode
    /// means corrupt state, and the error names the key and the record type.
    public static func decode<Record: StateRecord>(
        _ type: Record.Type, _ bytes: [UInt8], key: [UInt8]
    ) throws(StateError) -> Record {
        do throws(FormatError) { return try Record(canonicalBytes: bytes) } catch {
            throw StateError(
                .corrupt,
                "state entry \(String(decoding: key.prefix(24), as: UTF8.self))… does not decode as \(Record.self): \(error.message)"
            )
        }
    }
}

/// A state key as a dictionary key that hashes its bytes in one call: `[UInt8]`'s own
/// conformance feeds the hasher one byte at a time, and every backend and every block's
/// overlay looks keys up by it.
public struct StateKeyBytes: Hashable, Sendable {
    /// The key.
    public let bytes: [UInt8]
    /// Wraps a key.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// Feeds the key's bytes to the hasher in one call.
    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }

    /// Equal bytes, compared eight at a time. The synthesized comparison went through
    /// `[UInt8]`'s, which compared one byte per call through `UInt8`'s conformance: about 1.5%
    /// of a saturated validator's processor time, since every dictionary probe that finds its
    /// key compares it whole.
    public static func == (left: StateKeyBytes, right: StateKeyBytes) -> Bool {
        let count = left.bytes.count
        guard count == right.bytes.count else { return false }
        return left.bytes.withUnsafeBytes { leftBytes in
            right.bytes.withUnsafeBytes { rightBytes in
                var offset = 0
                while offset + 8 <= count {
                    if leftBytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                        != rightBytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    {
                        return false
                    }
                    offset += 8
                }
                while offset < count {
                    if leftBytes[offset] != rightBytes[offset] { return false }
                    offset += 1
                }
                return true
            }
        }
    }
}

/// A committed state value (nil: the key is absent) beside the record it last decoded as,
/// for a backend that keeps values in memory: the DID documents and accounts that
/// transactions read again and again are then decoded once while they stand. A new value
/// replaces both at once, so a decoded record never outlives the bytes it came from.
public final class DecodedStateValue {
    /// The value's bytes; nil when the key is absent.
    public private(set) var bytes: [UInt8]?
    private var decoded: (any StateRecord)?

    /// Holds `bytes`, not yet decoded.
    public init(_ bytes: [UInt8]?) { self.bytes = bytes }

    /// Takes a new value and forgets the record decoded from the old one.
    public func replace(with bytes: [UInt8]?) {
        self.bytes = bytes
        decoded = nil
    }

    /// The value as a `Record` (stored under `key`, for the error), decoded on the first
    /// read of that type; nil when the key is absent.
    public func record<Record: StateRecord>(_ type: Record.Type, key: [UInt8]) throws(StateError) -> Record? {
        guard let bytes else { return nil }
        if let record = decoded as? Record { return record }
        let record = try StateRecordDecoding.decode(Record.self, bytes, key: key)
        decoded = record
        return record
    }
}

/// State held in memory: for tests, tools and benchmarks. Its tree nodes are kept by
/// reference (hash and location), as a validator's store keeps them, so that a tree update
/// that names a node by a wrong location fails here too.
public final class InMemoryStateBackend: StateBackend, SparseMerkleNodeSource {
    private var values: [StateKeyBytes: [UInt8]] = [:]
    /// Nodes made by this process's updates, kept decoded (see `checkedNode`).
    private var nodes: [SparseMerkleNodeReference: SparseMerkleStoredNode] = [:]
    /// The current root.
    public private(set) var stateRoot: Hash = .zero
    /// Where the current root is stored.
    public private(set) var stateRootLocation: UInt64 = 0

    /// An empty state.
    public init() {}

    /// The tree nodes.
    public var treeNodes: any SparseMerkleNodeSource { self }

    /// The bytes of the node `reference` names.
    public func node(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredBytes? {
        nodes[reference]?.storedBytes
    }

    /// The node `reference` names: every node here came from an update's change set, which
    /// the tree made.
    public func checkedNode(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode? { nodes[reference] }

    /// The value under `key`.
    public func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? { values[StateKeyBytes(key)] }

    /// Entries under `prefix`, ascending.
    public func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
        key: [UInt8], value: [UInt8]
    )] {
        let matching = values.filter { entry in
            let key = entry.key.bytes
            return key.starts(with: prefix) && (after.map { key.lexicographicallyPrecedes($0) == false && key != $0 } ?? true)
        }
        return matching.sorted { $0.key.bytes.precedesInByteOrder($1.key.bytes) }.prefix(limit).map {
            ($0.key.bytes, $0.value)
        }
    }

    /// Number of entries held.
    public var count: Int { values.count }

    /// Applies a change set produced against this backend's current root.
    public func apply(_ changes: StateChanges) {
        for change in changes.values {
            values[StateKeyBytes(change.key)] = change.value
        }
        for entry in changes.treeNodes {
            let reference = SparseMerkleNodeReference(hash: entry.hash, location: entry.location)
            if nodes[reference] == nil { nodes[reference] = entry.stored }
        }
        stateRoot = changes.stateRoot
        stateRootLocation = changes.tree.rootLocation
    }
}
