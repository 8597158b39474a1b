import SocaiCore

/// State-tree nodes by hash in one open-addressing table: a node store for a process that
/// keeps only the latest tree (the auditor's replay) and looks nodes up millions of times.
///
/// Swift's `Dictionary` runs SipHash over all 32 bytes of every key, with a fresh hasher per
/// lookup; that was a third of executing a replayed block. A node's hash is already a
/// uniformly distributed SHA-256 digest, so one word of it, mixed with a per-table seed,
/// picks the slot. The seed is what keeps a transaction author from grinding values whose
/// leaf hashes share a slot and so turning each lookup into a long probe: it never reaches
/// hashed or replicated data, and iteration order is never exposed.
///
/// Linear probing with backward-shift deletion, so removals leave no tombstones and a
/// table that holds one tree at a time never degrades. The load stays at most 3/4.
public struct SparseMerkleNodeTable {
    /// Most slots a table may have (2^32): far beyond any state this ledger holds in memory.
    public static let capacityMax = 1 << 32
    /// Slots of a new table.
    public static let capacityInitial = 1 << 10

    /// One slot: a hash and its node side by side, so a lookup in a table far larger than
    /// the caches costs one memory access, not two. `Hash.zero` marks an empty slot (it is
    /// the empty subtree, never a node); its node is then a placeholder.
    private struct Slot {
        var hash: Hash
        var node: SparseMerkleNode
    }

    private var slots: [Slot]
    /// Right shift taking a mixed 64-bit word to a slot index: 64 − log2(capacity).
    private var shift: UInt64
    /// Mixed into every slot choice; see the type's summary.
    private let seed: UInt64
    /// Number of nodes held.
    public private(set) var count = 0

    /// An empty table. `seed` defaults to a random one; tests pass their own.
    public init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        self.seed = seed
        slots = Array(repeating: Self.emptySlot, count: Self.capacityInitial)
        shift = UInt64(64 - Self.capacityInitial.trailingZeroBitCount)
    }

    /// Number of slots.
    public var capacity: Int { slots.count }

    /// An empty slot; its node is never returned.
    private static let emptySlot = Slot(hash: .zero, node: .internal(left: .zero, right: .zero))

    /// The node stored under `hash`, or nil.
    public func node(_ hash: Hash) -> SparseMerkleNode? {
        precondition(hash != .zero, "the empty subtree has no node")
        let mask = slots.count - 1
        var index = home(hash)
        // At least a quarter of the slots are empty, so the probe ends within `capacity` steps.
        for _ in 0..<slots.count {
            let stored = slots[index].hash
            if stored == hash { return slots[index].node }
            if stored == .zero { return nil }
            index = (index + 1) & mask
        }
        preconditionFailure("node table has no empty slot")
    }

    /// Stores `node` under `hash` unless a node is already stored there (content addressing
    /// makes the two identical). Returns whether it was added.
    @discardableResult
    public mutating func insert(_ node: SparseMerkleNode, hash: Hash) -> Bool {
        precondition(hash != .zero, "the empty subtree has no node")
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let mask = slots.count - 1
        var index = home(hash)
        for _ in 0..<slots.count {
            let stored = slots[index].hash
            if stored == hash { return false }
            if stored == .zero {
                slots[index] = Slot(hash: hash, node: node)
                count += 1
                return true
            }
            index = (index + 1) & mask
        }
        preconditionFailure("node table has no empty slot")
    }

    /// Removes the node stored under `hash`. Returns whether there was one.
    @discardableResult
    public mutating func remove(_ hash: Hash) -> Bool {
        precondition(hash != .zero, "the empty subtree has no node")
        let mask = slots.count - 1
        var hole = home(hash)
        var found = false
        for _ in 0..<slots.count {
            let stored = slots[hole].hash
            if stored == .zero { return false }
            if stored == hash {
                found = true
                break
            }
            hole = (hole + 1) & mask
        }
        guard found else { preconditionFailure("node table has no empty slot") }
        // Backward shift: move each later entry of the run into the hole when its home slot
        // does not lie cyclically in (hole, current], so every entry stays reachable from
        // its home without tombstones.
        var current = hole
        for _ in 0..<slots.count {
            current = (current + 1) & mask
            let stored = slots[current].hash
            if stored == .zero { break }
            let wanted = home(stored)
            let staysPut = hole <= current ? (hole < wanted && wanted <= current) : (hole < wanted || wanted <= current)
            if staysPut { continue }
            slots[hole] = slots[current]
            hole = current
        }
        slots[hole] = Self.emptySlot
        count -= 1
        return true
    }

    /// Calls `body` with every node held, in no meaningful order (slot order depends on the
    /// seed): for checks and counts only, never for hashed or replicated data.
    public func forEachUnordered(_ body: (Hash, SparseMerkleNode) -> Void) {
        for slot in slots where slot.hash != .zero { body(slot.hash, slot.node) }
    }

    /// The home slot of `hash`: its first word, mixed with the seed by a multiplicative
    /// (Fibonacci) hash whose top bits index the table.
    private func home(_ hash: Hash) -> Int {
        Int(truncatingIfNeeded: ((hash.storage.firstWord ^ seed) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Doubles the slots and places every node again.
    private mutating func grow() {
        let capacityNew = slots.count * 2
        precondition(capacityNew <= Self.capacityMax, "node table would exceed \(Self.capacityMax) slots")
        let old = slots
        slots = Array(repeating: Self.emptySlot, count: capacityNew)
        shift = UInt64(64 - capacityNew.trailingZeroBitCount)
        count = 0
        for slot in old where slot.hash != .zero {
            let inserted = insert(slot.node, hash: slot.hash)
            precondition(inserted, "node table held one hash twice")
        }
    }
}
