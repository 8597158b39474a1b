import SocaiCore
import SocaiState

/// The state-tree nodes a validator holds in memory, every one checked: the nodes recent
/// blocks wrote, kept as those blocks made them, and nodes read back from SQLite, keyed by
/// hash. Every tree update walks from the root, so most of its reads hit here instead of
/// SQLite and SHA-256.
///
/// Why two parts. A block's new nodes are numbered 0, 1, 2, … at its height, and the list
/// the tree update made holds them in that order, so a reference's location (height and
/// ordinal) finds its node by index in that list: keeping a committed block's nodes costs
/// nothing more than keeping the list. Inserting them into a hash table, as this cache did
/// before, cost a random write into a table of 60 MB for every new node, 5–10% of the
/// processor time of storing a block. Nodes written before the recent blocks are read from
/// SQLite once, checked, and held in hash-keyed generations as before.
///
/// What an update reads are nodes on its changes' paths, which it then replaces: the nodes
/// of the current tree that recent blocks did not write are the ones no change has reached
/// for a while. So the recent blocks serve nearly every read of the top of the tree, and the
/// read-back generations the rest.
///
/// Bounds: recent blocks hold at most `recentEntryBytesMax` bytes of node lists (counted by
/// their capacity) and at most `recentBlocksMax` lists; the read-back part at most
/// `2 × readBackGenerationNodesMax` nodes; and at most `reusableListsMax` emptied lists,
/// of at most `reusableListBytesMax` bytes together, are kept for reuse.
struct CheckedNodeCache {
    /// Bytes of recent blocks' node lists held by default: about 30 blocks of 1,500 changes.
    static let recentEntryBytesMaxDefault = 96 << 20
    /// Most recent blocks held: blocks that change little add a short list each.
    static let recentBlocksMax = 1_024
    /// Most emptied lists kept for reuse: one per update that may run before the next
    /// commit (a proposal of its own and one to validate) is enough.
    static let reusableListsMax = 2
    /// Most times the room asked for that a reused list may have (`takeReusableList`).
    static let reusableListSlackMax = 2
    /// Bytes of lists kept for reuse by default, by capacity, together.
    ///
    /// Why this many: a typical block's list is a few megabytes, but a block of thousands of
    /// transactions makes a list of up to 32 MiB (see
    /// `SparseMerkleTree.createdNodesReservedMax`). With a bound of 16 MiB a list, such lists
    /// were never reused, and each update took a new one. The bound keeps two of them.
    static let reusableListBytesMaxDefault = 64 << 20
    /// Nodes per read-back generation by default: a full one is a table of 2^17 slots of 120
    /// bytes, so the two hold at most about 32 MB.
    static let readBackGenerationNodesMaxDefault = 1 << 16

    /// Bytes of node lists the recent blocks may hold.
    let recentEntryBytesMax: Int
    /// Nodes per read-back generation.
    let readBackGenerationNodesMax: Int
    /// Bytes of lists kept for reuse, together, by capacity.
    let reusableListBytesMax: Int
    /// The recent blocks held, by ascending tree version (height), each with the nodes it
    /// made in ordinal order: `nodes[k]` is the node at location (`version`, `k`).
    private var recent: [(version: UInt64, nodes: [SparseMerkleNodeEntry])] = []
    /// Bytes the recent lists hold, by capacity.
    private(set) var recentEntryBytes = 0
    /// Emptied lists that left the recent blocks, for tree updates to reuse; at most
    /// `reusableListsMax`.
    private var reusableLists: [[SparseMerkleNodeEntry]] = []
    /// Bytes the reusable lists hold, by capacity.
    private var reusableListBytes = 0
    private var young: SparseMerkleNodeTable
    private var old: SparseMerkleNodeTable

    init(
        recentEntryBytesMax: Int = CheckedNodeCache.recentEntryBytesMaxDefault,
        readBackGenerationNodesMax: Int = CheckedNodeCache.readBackGenerationNodesMaxDefault,
        reusableListBytesMax: Int = CheckedNodeCache.reusableListBytesMaxDefault
    ) {
        precondition(recentEntryBytesMax >= 0 && readBackGenerationNodesMax >= 1 && reusableListBytesMax >= 0)
        self.recentEntryBytesMax = recentEntryBytesMax
        self.readBackGenerationNodesMax = readBackGenerationNodesMax
        self.reusableListBytesMax = reusableListBytesMax
        // Sized for a full generation at once: a table that grows places every node again at
        // each doubling.
        young = SparseMerkleNodeTable(nodesExpected: readBackGenerationNodesMax)
        old = SparseMerkleNodeTable(nodesExpected: readBackGenerationNodesMax)
    }

    /// Recent blocks held.
    var recentBlocks: Int { recent.count }
    /// Nodes held in the read-back generations.
    var readBackCount: Int { young.count + old.count }

    /// The node `reference` names: from the recent block that wrote it if that block is
    /// held, else from the read-back generations by hash.
    mutating func node(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode? {
        if let node = recentNode(reference) { return node }
        return readBackNode(reference.hash)
    }

    /// Keeps a committed block's new nodes, `entries`, which the tree update of `version`
    /// made: entry `k` is at location (`version`, `k`). Versions only grow. The oldest blocks
    /// go once the bounds are passed.
    mutating func keep(committed entries: [SparseMerkleNodeEntry], version: UInt64) {
        guard let first = entries.first, let last = entries.last else { return }
        // The store checked every entry's location right before writing it; the two ends
        // suffice here to catch a list from another update.
        precondition(
            first.location == SparseMerkleNodeLocation.location(version: version, ordinal: 0)
                && last.location == SparseMerkleNodeLocation.location(version: version, ordinal: UInt64(entries.count - 1)),
            "checked node cache: the nodes kept are not those of version \(version) in ordinal order")
        precondition(
            recent.last.map { $0.version < version } ?? true, "checked node cache: version \(version) kept twice or late")
        recent.append((version, entries))
        recentEntryBytes += Self.bytes(of: entries)
        var evicted = 0
        while recentEntryBytes > recentEntryBytesMax || recent.count - evicted > Self.recentBlocksMax {
            recentEntryBytes -= Self.bytes(of: recent[evicted].nodes)
            evicted += 1
        }
        if evicted > 0 {
            var leaving = recent[..<evicted].map(\.nodes)
            recent.removeFirst(evicted)
            // The newest lists that left are kept, in place of the oldest kept before them:
            // they are the likeliest to fit the next blocks. Moved out of `leaving` one at a
            // time, each list is then referenced once, so emptying it keeps its storage
            // rather than copying it.
            leaving.removeFirst(max(0, leaving.count - Self.reusableListsMax))
            for index in leaving.indices {
                var list = leaving[index]
                leaving[index] = []
                let bytes = Self.bytes(of: list)
                guard bytes <= reusableListBytesMax else { continue }
                while reusableLists.count >= Self.reusableListsMax || reusableListBytes + bytes > reusableListBytesMax {
                    reusableListBytes -= Self.bytes(of: reusableLists.removeFirst())
                }
                list.removeAll(keepingCapacity: true)
                reusableLists.append(list)
                reusableListBytes += bytes
            }
        }
        precondition(
            recentEntryBytes >= 0 && recent.count <= Self.recentBlocksMax, "checked node cache: recent blocks out of bounds")
        precondition(
            reusableListBytes <= reusableListBytesMax && reusableLists.count <= Self.reusableListsMax,
            "checked node cache: reusable lists out of bounds")
    }

    /// An empty list with room for `capacity` nodes, with the storage of one the recent
    /// blocks let go of, or an empty array when none fits: a tree update fills it with the
    /// next block's nodes. Once a list leaves the recent blocks, this cache holds the only
    /// reference to it (the block's execution is dropped at its commit), so emptying it
    /// keeps its storage.
    ///
    /// Why: a block's list is a few megabytes, which the allocator maps afresh; with the
    /// lists of 30 blocks held, each new one was a new mapping whose every page faulted in,
    /// zeroed, as the update wrote it.
    ///
    /// Why a fit: the recent blocks' bound counts a list by its capacity, so a small block
    /// given a large block's list would hold the room of dozens of blocks. A list fits when
    /// it has room for `capacity` nodes and at most `reusableListSlackMax` times as many; of
    /// those, the smallest is taken.
    mutating func takeReusableList(capacity: Int) -> [SparseMerkleNodeEntry] {
        precondition(capacity >= 0, "a reusable list for a negative capacity")
        let fitting = reusableLists.indices.filter { index in
            let held = reusableLists[index].capacity
            return held >= capacity && held <= capacity * Self.reusableListSlackMax
        }
        guard let index = fitting.min(by: { reusableLists[$0].capacity < reusableLists[$1].capacity }) else { return [] }
        let list = reusableLists.remove(at: index)
        reusableListBytes -= Self.bytes(of: list)
        precondition(reusableListBytes >= 0 && list.isEmpty, "checked node cache: a reusable list out of its bounds")
        return list
    }

    /// Holds `node`, just read from SQLite and checked to hash to `hash`.
    mutating func insert(_ node: SparseMerkleStoredNode, hash: Hash) {
        if young.count >= readBackGenerationNodesMax {
            // A full young generation becomes the old one, and the old one, emptied (keeping
            // its slots, so nothing is allocated and faulted in again), the young.
            swap(&young, &old)
            young.removeAll()
        }
        young.insert(node, hash: hash)
        precondition(young.count <= readBackGenerationNodesMax, "checked node cache over its bound")
    }

    /// The node at `reference`'s location in a recent block, if that block is held and the
    /// node there has `reference`'s hash.
    private func recentNode(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode? {
        let version = SparseMerkleNodeLocation.version(of: reference.location)
        // Binary search: versions ascend, and a few dozen blocks are held.
        var low = 0
        var high = recent.count
        while low < high {
            let middle = (low + high) / 2
            if recent[middle].version < version { low = middle + 1 } else { high = middle }
        }
        guard low < recent.count, recent[low].version == version else { return nil }
        let ordinal = SparseMerkleNodeLocation.ordinal(of: reference.location)
        let nodes = recent[low].nodes
        guard ordinal < UInt64(nodes.count) else { return nil }
        let entry = nodes[Int(ordinal)]
        // A reference whose hash is not the node's there is answered from SQLite, where the
        // tree reports what is wrong.
        return entry.hash == reference.hash ? entry.stored : nil
    }

    /// A read-back node by hash; found in the old generation, it moves to the young one.
    private mutating func readBackNode(_ hash: Hash) -> SparseMerkleStoredNode? {
        if let node = young.node(hash) { return node }
        guard let node = old.node(hash) else { return nil }
        insert(node, hash: hash)
        return node
    }

    /// Bytes a node list holds, by its capacity: what it keeps allocated.
    private static func bytes(of entries: [SparseMerkleNodeEntry]) -> Int {
        entries.capacity * MemoryLayout<SparseMerkleNodeEntry>.stride
    }
}
