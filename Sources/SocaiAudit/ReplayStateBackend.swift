import SocaiCore
import SocaiState

/// The replay's state: held in memory like `InMemoryStateBackend`, but keeping only the
/// current tree, in `ReplayStateTree`, which computes each block's update itself (a replay
/// never reads an old root and answers no proofs). Execution is the one part of a replay that
/// cannot run in parallel.
final class ReplayStateBackend: StateBackend {
    /// Each key's value with its decoded record. A rewritten key keeps its entry (most keys
    /// a block writes, balances and nonces, are rewritten block after block).
    private var values: [StateKeyBytes: DecodedStateValue] = [:]
    private var tree = ReplayStateTree()
    /// The root of the tree after an update that `apply` has not yet taken: the tree is then
    /// ahead of `stateRoot`, and no second update may start.
    private var pendingRoot: Hash?
    /// The current root.
    private(set) var stateRoot: Hash = .zero
    /// The replay stores no node, so no root has a place to be read from.
    var stateRootLocation: UInt64 { 0 }

    /// The replay answers no proofs and reads no node by hash; see `NoNodes`.
    var treeNodes: any SparseMerkleNodeSource { NoNodes() }

    /// Number of state entries.
    var count: Int { values.count }

    func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? { values[StateKeyBytes(key)]?.bytes }

    /// The record under `key`, decoded once while its value stands: in a replay most reads
    /// are of DID documents and balances that the same signers read block after block.
    func record<Record: StateRecord>(_ type: Record.Type, forKey key: [UInt8]) throws(StateError) -> Record? {
        try values[StateKeyBytes(key)]?.record(Record.self, key: key)
    }

    /// Entries under `prefix`, ascending, after `after` (a full scan: rules rarely list, and
    /// the final comparison lists once).
    func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
        key: [UInt8], value: [UInt8]
    )] {
        let matching = values.compactMap { key, entry -> (key: [UInt8], value: [UInt8])? in
            guard key.bytes.starts(with: prefix), after.map({ $0.precedesInByteOrder(key.bytes) }) ?? true,
                let value = entry.bytes
            else { return nil }
            return (key.bytes, value)
        }
        return Array(matching.sorted { $0.key.precedesInByteOrder($1.key) }.prefix(limit))
    }

    /// Applies a block's tree changes to the replay's own tree and returns the new root, with
    /// no node lists: nothing persists them. `apply` must take the result before the next.
    func updatedTree(_ changes: [SparseMerkleChange], version: UInt64) throws(StateError) -> SparseMerkleUpdate? {
        precondition(pendingRoot == nil, "replay: a state-tree update was computed and never applied")
        let root = tree.apply(changes.sorted { $0.key < $1.key })
        pendingRoot = root
        return SparseMerkleUpdate(root: root, rootLocation: 0, version: version, createdNodes: [])
    }

    /// Applies a change set computed by `updatedTree` against this backend's current root.
    func apply(_ changes: StateChanges) {
        precondition(pendingRoot == changes.stateRoot, "replay: the change set is not the tree's pending update")
        for change in changes.values {
            let key = StateKeyBytes(change.key)
            if let value = change.value {
                if let entry = values[key] { entry.replace(with: value) } else { values[key] = DecodedStateValue(value) }
            } else {
                values[key] = nil
            }
        }
        pendingRoot = nil
        stateRoot = changes.stateRoot
    }

    /// Tree nodes held.
    var nodeCount: Int { tree.nodeCount }

    /// The tree's leaves in key order and the nodes its root reaches: for checks.
    func walkTree() -> (leaves: [(key: Hash, valueHash: Hash)], reachable: Int) { tree.walk() }

    /// The replay's node source: it holds nodes by position, not by hash, and nothing in a
    /// replay asks for one by hash (updates go through `updatedTree`, and the replay proves
    /// nothing), so a request is a programming error.
    struct NoNodes: SparseMerkleNodeSource {
        func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes? {
            preconditionFailure("the replay's state tree is not read by node hash")
        }
    }
}
