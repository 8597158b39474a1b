/// A Bloom filter over the keys of the committed state, so that a read of a key the state
/// does not hold is answered without SQLite.
///
/// Why: admitting a transaction reads keys that mostly do not exist yet (a new identity's
/// DID document and nonce, whether the transaction is already committed). Each such read
/// missed the value cache and went to SQLite, a read transaction of its own with its file
/// locks and a B-tree search: 44% of admitting a transaction in a profile of the latency
/// benchmark, and 6% of a validator's processor time.
///
/// Safety: the filter may say a key is present when it is not (about 1% of absent keys, at
/// `bitsPerKey`), which only costs the SQLite read it would have made anyway; it never says
/// an inserted key is absent. Every key SQLite holds is inserted: all of them when the
/// filter is built from the values table (every key that ever held a value there), and each
/// key a committed block writes. A deleted key stays in the filter, which is harmless for
/// the same reason.
///
/// The bit positions come from Swift's `Hasher`, which is seeded at random in each process:
/// a transaction author cannot grind keys that share the bits of existing ones. Nothing of
/// the filter reaches hashed or replicated data.
struct StateKeyFilter {
    /// Bits per key the filter is sized for: with `hashCount` bit positions per key, about 1%
    /// of absent keys pass as present at full load.
    static let bitsPerKey = 10
    /// Bit positions per key.
    static let hashCount = 7
    /// Keys a new filter is sized for.
    static let keysInitialDefault = 1 << 16
    /// Most keys a filter is sized for (2^26, at most 128 MiB of bits); a state with more
    /// keys than this reads every absent key from SQLite (the owner then stops filtering).
    static let keysMax = 1 << 26
    /// Words of one block: a key's bits all lie in one 64-byte block, so a lookup costs one
    /// cache miss however large the filter (a "blocked" Bloom filter).
    static let blockWords = 8

    /// Keys the filter is sized for; once `count` passes it, the owner rebuilds it larger.
    let keysCapacity: Int
    /// Keys inserted that the filter did not already report as present: about the number of
    /// distinct keys it holds.
    private(set) var count = 0
    private var words: [UInt64]
    /// Blocks − 1: a block index is masked, the block count being a power of two.
    private let blockMask: UInt64

    /// An empty filter sized for `keysCapacity` keys (at most `keysMax`).
    init(keysCapacity: Int) {
        precondition(keysCapacity >= 1 && keysCapacity <= Self.keysMax, "key filter capacity \(keysCapacity) out of range")
        self.keysCapacity = keysCapacity
        let blockBits = Self.blockWords * 64
        let blocks = max(1, (keysCapacity * Self.bitsPerKey + blockBits - 1) / blockBits).nextPowerOfTwoOrSelf
        words = [UInt64](repeating: 0, count: blocks * Self.blockWords)
        blockMask = UInt64(blocks - 1)
    }

    /// Whether more keys were inserted than the filter was sized for: its false-positive rate
    /// is then above its design, and the owner should rebuild it with twice the capacity.
    var isOverfull: Bool { count > keysCapacity }

    /// Whether `key` may be in the state; false means it certainly is not.
    func mayContain(_ key: [UInt8]) -> Bool {
        var probe = Probe(key, blockMask: blockMask)
        for _ in 0..<Self.hashCount {
            let (word, mask) = probe.next()
            if words[word] & mask == 0 { return false }
        }
        return true
    }

    /// Adds `key`.
    mutating func insert(_ key: [UInt8]) {
        var probe = Probe(key, blockMask: blockMask)
        var added = false
        for _ in 0..<Self.hashCount {
            let (word, mask) = probe.next()
            if words[word] & mask == 0 {
                words[word] |= mask
                added = true
            }
        }
        if added { count += 1 }
    }

    /// The bits of one key: a block chosen by the hash's mixed high bits, and within it the
    /// positions `first + i × step` (double hashing, the step odd so that they differ).
    private struct Probe {
        let blockStart: Int
        var position: UInt64
        let step: UInt64

        init(_ key: [UInt8], blockMask: UInt64) {
            var hasher = Hasher()
            key.withUnsafeBytes { hasher.combine(bytes: $0) }
            let hash = UInt64(bitPattern: Int64(hasher.finalize()))
            blockStart = Int(((hash &* 0x9E37_79B9_7F4A_7C15) >> 24) & blockMask) * StateKeyFilter.blockWords
            position = hash & 0xFFFF
            step = ((hash >> 16) & 0xFFFF) | 1
        }

        /// The next bit: its word's index and the mask within that word.
        mutating func next() -> (word: Int, mask: UInt64) {
            let bit = position & UInt64(StateKeyFilter.blockWords * 64 - 1)
            position &+= step
            return (blockStart + Int(bit >> 6), 1 << (bit & 63))
        }
    }
}

extension Int {
    /// The smallest power of two at or above this positive number.
    fileprivate var nextPowerOfTwoOrSelf: Int {
        precondition(self >= 1)
        return self == 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
