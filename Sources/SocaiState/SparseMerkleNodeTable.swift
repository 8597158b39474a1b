import SocaiCore

#if canImport(Glibc)
    import Glibc
#endif

/// State-tree nodes by hash in one open-addressing table, for code that looks nodes up
/// millions of times: a validator's cache of checked nodes keeps its two generations in two.
///
/// Swift's `Dictionary` runs SipHash over all 32 bytes of every key, with a fresh hasher per
/// lookup; that was a third of executing a replayed block when the replay kept its tree by
/// hash (it now keeps it by position, in `ReplayStateTree`). A node's hash is already a
/// uniformly distributed SHA-256 digest, so one word of it, mixed with a per-table seed,
/// picks the slot. The seed is what keeps a transaction author from grinding values whose
/// leaf hashes share a slot and so turning each lookup into a long probe: it never reaches
/// hashed or replicated data, and iteration order is never exposed.
///
/// Linear probing with backward-shift deletion, so removals leave no tombstones and a
/// table that holds one tree at a time never degrades. The load stays at most 3/4.
///
/// A table of millions of nodes is far larger than the caches, so nearly every lookup
/// misses them; on Linux its memory is asked for in huge pages (`MADV_HUGEPAGE`), so that
/// such a lookup does not also miss the TLB.
public final class SparseMerkleNodeTable {
    /// Most slots a table may have (2^32): far beyond any state this ledger holds in memory.
    public static let capacityMax = 1 << 32
    /// Slots of a new table.
    public static let capacityInitial = 1 << 10

    /// One slot: a hash and its node side by side, so a lookup in a table far larger than
    /// the caches costs one memory access, not two. `Hash.zero` marks an empty slot (it is
    /// the empty subtree, never a node); its node is then a placeholder.
    private struct Slot {
        var hash: Hash
        var node: SparseMerkleStoredNode
    }

    private var slots: UnsafeMutablePointer<Slot>
    /// Number of slots: a power of two.
    public private(set) var capacity: Int
    /// Right shift taking a mixed 64-bit word to a slot index: 64 − log2(capacity).
    private var shift: UInt64
    /// Mixed into every slot choice; see the type's summary.
    private let seed: UInt64
    /// Number of nodes held.
    public private(set) var count = 0

    /// An empty table with room for `nodesExpected` nodes before it first grows. `seed`
    /// defaults to a random one; tests pass their own.
    ///
    /// A table sized up front never places its nodes again as it fills. Its memory is asked
    /// for at once but, when large, comes from the kernel as zeroed pages that are backed
    /// only as they are first written, 4 KiB at a time until the table is an eighth full
    /// (see `insert`): a table that stays nearly empty (a test's store) holds little.
    public init(nodesExpected: Int = 0, seed: UInt64 = UInt64.random(in: .min ... .max)) {
        precondition(nodesExpected >= 0 && nodesExpected <= Self.capacityMax / 2, "node table sized beyond its maximum")
        self.seed = seed
        // Sized so that `nodesExpected` nodes stay below the load of 3/4 at which it grows.
        var wanted = Self.capacityInitial
        while wanted * 3 < nodesExpected * 4 + 4 { wanted *= 2 }
        capacity = wanted
        slots = Self.allocate(wanted)
        shift = UInt64(64 - wanted.trailingZeroBitCount)
    }

    deinit { Self.free(slots, capacity: capacity) }

    /// Huge-page size on x86-64 and arm64 Linux: tables at least this large are mapped, and
    /// backed with huge pages once well filled.
    private static let hugePageBytes = 2 << 20
    /// Whether a table of `capacity` slots is mapped (and unmapped when freed) rather than
    /// allocated: the one rule `allocate`, `free` and `insert` share.
    private static func isMapped(capacity: Int) -> Bool { capacity * MemoryLayout<Slot>.stride >= hugePageBytes }
    /// Whether huge pages were asked for, once the table was an eighth full.
    private var hugePagesAdvised = false

    /// `capacity` empty slots.
    private static func allocate(_ capacity: Int) -> UnsafeMutablePointer<Slot> {
        // Slots are plain bytes (hashes and nodes hold no references), so they are copied
        // and freed without running any deinitializer.
        precondition(_isPOD(Slot.self), "a node table slot must be plain data")
        let bytes = capacity * MemoryLayout<Slot>.stride
        #if canImport(Glibc)
            if isMapped(capacity: capacity) {
                // Anonymous pages read as zeros until written, and all-zero bytes are an empty
                // slot (a zero hash; its node is never read), so the slots need no writing.
                guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                    raw != MAP_FAILED
                else { preconditionFailure("node table: out of memory") }
                let slots = raw.bindMemory(to: Slot.self, capacity: capacity)
                precondition(slots[0].hash == .zero, "node table: zeroed memory must read as an empty slot")
                return slots
            }
            var raw: UnsafeMutableRawPointer?
            precondition(posix_memalign(&raw, 64, bytes) == 0 && raw != nil, "node table: out of memory")
            let slots = raw!.bindMemory(to: Slot.self, capacity: capacity)
        #else
            let slots = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
        #endif
        slots.initialize(repeating: emptySlot, count: capacity)
        return slots
    }

    /// Frees what `allocate(capacity)` returned.
    private static func free(_ slots: UnsafeMutablePointer<Slot>, capacity: Int) {
        #if canImport(Glibc)
            if isMapped(capacity: capacity) {
                precondition(munmap(slots, capacity * MemoryLayout<Slot>.stride) == 0, "node table: cannot unmap its slots")
            } else {
                Glibc.free(slots)
            }
        #else
            slots.deallocate()
        #endif
    }

    /// An empty slot; its node is never returned.
    private static let emptySlot = Slot(hash: .zero, node: SparseMerkleStoredNode(.internal(left: .zero, right: .zero)))

    /// The node stored under `hash`, or nil.
    public func node(_ hash: Hash) -> SparseMerkleStoredNode? {
        precondition(hash != .zero, "the empty subtree has no node")
        let mask = capacity - 1
        var index = home(hash)
        // At least a quarter of the slots are empty, so the probe ends within `capacity` steps.
        for _ in 0..<capacity {
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
    public func insert(_ node: SparseMerkleStoredNode, hash: Hash) -> Bool {
        precondition(hash != .zero, "the empty subtree has no node")
        if (count + 1) * 4 > capacity * 3 { grow() }
        let mask = capacity - 1
        var index = home(hash)
        for _ in 0..<capacity {
            let stored = slots[index].hash
            if stored == hash { return false }
            if stored == .zero {
                slots[index] = Slot(hash: hash, node: node)
                count += 1
                if !hugePagesAdvised, Self.isMapped(capacity: capacity), count >= capacity / 8 { adviseHugePages() }
                return true
            }
            index = (index + 1) & mask
        }
        preconditionFailure("node table has no empty slot")
    }

    /// Removes the node stored under `hash`. Returns whether there was one.
    @discardableResult
    public func remove(_ hash: Hash) -> Bool {
        precondition(hash != .zero, "the empty subtree has no node")
        let mask = capacity - 1
        var hole = home(hash)
        var found = false
        for _ in 0..<capacity {
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
        for _ in 0..<capacity {
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

    /// Asks for huge pages behind the slots. Random inserts have by now written most of the
    /// table's 4 KiB pages, so whole 2 MiB pages cost little more memory, and a lookup in a
    /// table far larger than the caches then does not also miss the TLB. Advice only: a
    /// kernel without transparent huge pages ignores it, and the mapping is only 4 KiB
    /// aligned, so the pages at its ends stay small.
    private func adviseHugePages() {
        hugePagesAdvised = true
        #if canImport(Glibc)
            _ = madvise(UnsafeMutableRawPointer(slots), capacity * MemoryLayout<Slot>.stride, MADV_HUGEPAGE)
        #endif
    }

    /// Removes every node and keeps the slots, so the table can be filled again without
    /// allocating: no new memory to fault in and zero, and no doubling on the way back up.
    public func removeAll() {
        slots.update(repeating: Self.emptySlot, count: capacity)
        count = 0
    }

    /// Calls `body` with every node held, in no meaningful order (slot order depends on the
    /// seed): for checks and counts only, never for hashed or replicated data.
    public func forEachUnordered(_ body: (Hash, SparseMerkleStoredNode) -> Void) {
        for index in 0..<capacity where slots[index].hash != .zero { body(slots[index].hash, slots[index].node) }
    }

    /// The home slot of `hash`: its first word, mixed with the seed by a multiplicative
    /// (Fibonacci) hash whose top bits index the table.
    private func home(_ hash: Hash) -> Int {
        Int(truncatingIfNeeded: ((hash.storage.firstWord ^ seed) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Doubles the slots and places every node again.
    private func grow() {
        let capacityNew = capacity * 2
        precondition(capacityNew <= Self.capacityMax, "node table would exceed \(Self.capacityMax) slots")
        let (old, capacityOld) = (slots, capacity)
        slots = Self.allocate(capacityNew)
        capacity = capacityNew
        hugePagesAdvised = false
        shift = UInt64(64 - capacityNew.trailingZeroBitCount)
        count = 0
        for index in 0..<capacityOld where old[index].hash != .zero {
            let inserted = insert(old[index].node, hash: old[index].hash)
            precondition(inserted, "node table held one hash twice")
        }
        Self.free(old, capacity: capacityOld)
    }
}
