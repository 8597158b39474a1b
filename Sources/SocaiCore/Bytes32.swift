/// Exactly 32 bytes held inline, with no heap allocation: the storage of `Hash` and
/// `PublicKey`.
///
/// Hashes and keys are created, compared, hashed and looked up millions of times while a
/// chain executes; as `[UInt8]` each one was a heap allocation with reference counting on
/// every copy. Here they are four machine words, compared and hashed a word at a time.
/// The words hold the bytes in memory order, so `withUnsafeBytes` sees the 32 bytes as
/// they are encoded.
public struct Bytes32: Hashable, Comparable, Sendable {
    /// The 32 bytes as four words in memory order (word 0 holds bytes 0 to 7).
    @usableFromInline var words: (UInt64, UInt64, UInt64, UInt64)

    /// Number of bytes held.
    public static let count = 32

    /// 32 zero bytes.
    public static let zero = Bytes32(words: (0, 0, 0, 0))

    @usableFromInline init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// Copies exactly 32 bytes from `buffer`.
    @inlinable
    public init(copying buffer: UnsafeRawBufferPointer) {
        precondition(buffer.count == Self.count, "Bytes32 needs 32 bytes, got \(buffer.count)")
        words = (
            buffer.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
            buffer.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            buffer.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            buffer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        )
    }

    /// Copies exactly 32 bytes from `array`.
    @inlinable
    public init(_ array: [UInt8]) {
        precondition(array.count == Self.count, "Bytes32 needs 32 bytes, got \(array.count)")
        self = array.withUnsafeBytes { Bytes32(copying: $0) }
    }

    /// Fills 32 bytes through `body`, which must write all of them (a digest, a key).
    @inlinable
    public init(filling body: (UnsafeMutableRawBufferPointer) -> Void) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &words) { body($0) }
        self.words = words
    }

    /// The bytes as a new array (an allocation: keep it off hot paths).
    public var array: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 bytes in order.
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var copy = words
        return try Swift.withUnsafeBytes(of: &copy) { try body($0) }
    }

    /// Bytes 0 to 7 as one word in memory order, with no hashing: a ready-made hash-table
    /// index for values that are already uniformly distributed, such as digests.
    @inlinable
    public var firstWord: UInt64 { words.0 }

    /// Byte `index` (0 to 31).
    @inlinable
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < Self.count, "byte \(index) of 32")
        let word: UInt64
        switch index >> 3 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        // Memory order on a little-endian machine: byte 0 of a word is its lowest byte.
        return UInt8(truncatingIfNeeded: UInt64(littleEndian: word) >> UInt64((index & 7) * 8))
    }

    /// Word `index` (0 to 3) read as a big-endian number, so that comparing these words in
    /// order compares the bytes lexicographically.
    @inlinable
    func bigEndianWord(_ index: Int) -> UInt64 {
        switch index {
        case 0: return UInt64(bigEndian: words.0)
        case 1: return UInt64(bigEndian: words.1)
        case 2: return UInt64(bigEndian: words.2)
        default: return UInt64(bigEndian: words.3)
        }
    }

    /// Bit `index` (0 to 255), bit 0 being the most significant bit of byte 0.
    @inlinable
    public func bit(_ index: Int) -> UInt8 {
        precondition(index >= 0 && index < 256, "bit \(index) of 256")
        return UInt8(truncatingIfNeeded: bigEndianWord(index >> 6) >> UInt64(63 - (index & 63))) & 1
    }

    /// The number of leading bits that `self` and `other` share (256 when equal).
    @inlinable
    public func commonPrefixBits(with other: Bytes32) -> Int {
        for index in 0..<4 {
            let difference = bigEndianWord(index) ^ other.bigEndianWord(index)
            if difference != 0 { return index * 64 + difference.leadingZeroBitCount }
        }
        return 256
    }

    /// A copy with bit `index` set to `value` (0 or 1).
    @inlinable
    public func settingBit(_ index: Int, to value: UInt8) -> Bytes32 {
        precondition(index >= 0 && index < 256 && value <= 1, "bit \(index) of 256")
        let mask = UInt64(1) << UInt64(63 - (index & 63))
        var word = bigEndianWord(index >> 6)
        word = value == 0 ? word & ~mask : word | mask
        var result = self
        switch index >> 6 {
        case 0: result.words.0 = word.bigEndian
        case 1: result.words.1 = word.bigEndian
        case 2: result.words.2 = word.bigEndian
        default: result.words.3 = word.bigEndian
        }
        return result
    }

    /// Equal when all 32 bytes are equal.
    @inlinable
    public static func == (left: Bytes32, right: Bytes32) -> Bool {
        left.words.0 == right.words.0 && left.words.1 == right.words.1 && left.words.2 == right.words.2
            && left.words.3 == right.words.3
    }

    /// Byte-wise lexicographic order, which is the order of the bytes read as one unsigned
    /// big-endian number.
    @inlinable
    public static func < (left: Bytes32, right: Bytes32) -> Bool {
        for index in 0..<4 {
            let (a, b) = (left.bigEndianWord(index), right.bigEndianWord(index))
            if a != b { return a < b }
        }
        return false
    }

    /// Feeds the four words to the hasher.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
