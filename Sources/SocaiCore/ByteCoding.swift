/// Appends the canonical big-endian encoding of primitive values to a byte array.
public struct ByteWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// Creates an empty writer.
    public init() {}

    /// Appends one byte.
    public mutating func write(_ value: UInt8) { bytes.append(value) }

    /// Creates an empty writer with room for `capacity` bytes, so a structure of known size
    /// is written without growing the buffer.
    public init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Appends a 16-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt16) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a 32-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a 64-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends raw bytes with no length prefix (fixed-size fields).
    public mutating func writeRaw(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// Appends 32 bytes held inline (a hash or a key), with no length prefix.
    public mutating func write(_ value: Bytes32) {
        value.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Appends a u8 length followed by the bytes; the caller guarantees `raw.count <= 255`.
    public mutating func writeShortBytes(_ raw: [UInt8]) {
        precondition(raw.count <= Int(UInt8.max), "short byte string over 255 bytes")
        write(UInt8(raw.count))
        writeRaw(raw)
    }

    /// Appends a u32 length followed by the bytes.
    public mutating func writeLongBytes(_ raw: [UInt8]) {
        precondition(raw.count <= Int(UInt32.max), "byte string over 2^32 bytes")
        write(UInt32(raw.count))
        writeRaw(raw)
    }

    /// Appends a value's canonical encoding.
    public mutating func write(_ value: some CanonicalEncodable) { value.encode(to: &self) }
}

/// Reads canonical big-endian values from bytes, with a typed error for every failure.
public struct ByteReader {
    private let bytes: [UInt8]
    /// Offset of the next byte to read.
    public private(set) var offset: Int = 0

    /// Creates a reader over `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    /// Calls `body` with the bytes read since `start`, an earlier `offset`: a structure just
    /// decoded can hash the bytes it came from instead of encoding itself again.
    public func withBytesRead<Result>(since start: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        precondition(start >= 0 && start <= offset, "withBytesRead: \(start) is not an offset already read")
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<offset])) }
    }

    /// Reads `count` raw bytes; `field` names what is being read, for the error message.
    public mutating func readRaw(_ count: Int, _ field: String) throws(FormatError) -> [UInt8] {
        precondition(count >= 0)
        guard count <= remaining else {
            throw FormatError(.truncated, "\(field): needs \(count) bytes at offset \(offset), \(remaining) left")
        }
        let slice = Array(bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    /// Throws `truncated` unless `count` more bytes are there to read.
    private func require(_ count: Int, _ field: @autoclosure () -> String) throws(FormatError) {
        guard count <= remaining else {
            throw FormatError(.truncated, "\(field()): needs \(count) bytes at offset \(offset), \(remaining) left")
        }
    }

    /// Reads a big-endian unsigned integer of `count` bytes, with no allocation.
    private mutating func readBigEndian(_ count: Int, _ field: @autoclosure () -> String) throws(FormatError) -> UInt64 {
        precondition(count >= 1 && count <= 8)
        try require(count, field())
        var value: UInt64 = 0
        for index in offset..<(offset + count) { value = value << 8 | UInt64(bytes[index]) }
        offset += count
        return value
    }

    /// Reads one byte.
    public mutating func readUInt8(_ field: String) throws(FormatError) -> UInt8 {
        UInt8(try readBigEndian(1, field))
    }

    /// Reads a big-endian 16-bit unsigned integer.
    public mutating func readUInt16(_ field: String) throws(FormatError) -> UInt16 {
        UInt16(try readBigEndian(2, field))
    }

    /// Reads a big-endian 32-bit unsigned integer.
    public mutating func readUInt32(_ field: String) throws(FormatError) -> UInt32 {
        UInt32(try readBigEndian(4, field))
    }

    /// Reads a big-endian 64-bit unsigned integer.
    public mutating func readUInt64(_ field: String) throws(FormatError) -> UInt64 {
        try readBigEndian(8, field)
    }

    /// Reads 32 raw bytes into inline storage (a hash or a key), with no allocation.
    public mutating func readBytes32(_ field: String) throws(FormatError) -> Bytes32 {
        try require(Bytes32.count, field)
        let start = offset
        offset += Bytes32.count
        return bytes.withUnsafeBytes { Bytes32(copying: UnsafeRawBufferPointer(rebasing: $0[start..<(start + Bytes32.count)])) }
    }

    /// Reads a boolean flag, which must be exactly 0 or 1.
    public mutating func readFlag(_ field: String) throws(FormatError) -> Bool {
        let byte = try readUInt8(field)
        guard byte <= 1 else {
            throw FormatError(.nonCanonical, "\(field): flag byte must be 0 or 1, got \(byte)")
        }
        return byte == 1
    }

    /// Reads a u8 length and that many bytes, rejecting lengths over `maximum`.
    public mutating func readShortBytes(_ field: String, maximum: Int) throws(FormatError) -> [UInt8] {
        let length = Int(try readBigEndian(1, field + " length"))
        guard length <= maximum else {
            throw FormatError(.overLimit, "\(field): length \(length) exceeds the maximum \(maximum)")
        }
        return try readRaw(length, field)
    }

    /// Reads a u32 length and that many bytes, rejecting lengths over `maximum` before reading.
    public mutating func readLongBytes(_ field: String, maximum: Int) throws(FormatError) -> [UInt8] {
        let length = Int(try readBigEndian(4, field + " length"))
        guard length <= maximum else {
            throw FormatError(.overLimit, "\(field): length \(length) exceeds the maximum \(maximum)")
        }
        return try readRaw(length, field)
    }

    /// Reads a u8-length-prefixed UTF-8 string of at most `maximum` bytes.
    public mutating func readShortString(_ field: String, maximum: Int) throws(FormatError) -> String {
        let raw = try readShortBytes(field, maximum: maximum)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw FormatError(.nonCanonical, "\(field): not valid UTF-8")
        }
        return text
    }

    /// Reads a value's canonical encoding.
    public mutating func read<Value: CanonicalDecodable>(_ type: Value.Type) throws(FormatError) -> Value {
        try Value(from: &self)
    }

    /// Throws unless every byte has been read.
    public func expectEnd(_ structure: @autoclosure () -> String) throws(FormatError) {
        guard remaining == 0 else {
            throw FormatError(.trailingBytes, "\(structure()): \(remaining) trailing bytes after offset \(offset)")
        }
    }
}

/// A value with exactly one byte encoding.
public protocol CanonicalEncodable {
    /// Appends the canonical encoding of `self`.
    func encode(to writer: inout ByteWriter)
}

/// A value decodable from its canonical encoding, rejecting every other byte string.
public protocol CanonicalDecodable {
    /// Reads one value, leaving the reader after its last byte.
    init(from reader: inout ByteReader) throws(FormatError)
}

/// A value that is both encodable and decodable canonically.
public typealias CanonicalCodable = CanonicalEncodable & CanonicalDecodable

extension CanonicalEncodable {
    /// The canonical encoding of `self`.
    public var canonicalBytes: [UInt8] {
        // Room for most records, keys and votes at once: an empty buffer grew through four
        // or five copies on the way to a DID document's 200-odd bytes.
        var writer = ByteWriter(capacity: 128)
        encode(to: &writer)
        return writer.bytes
    }
}

extension CanonicalDecodable {
    /// Decodes a value that must occupy all of `bytes`: trailing bytes are an error.
    public init(canonicalBytes bytes: [UInt8]) throws(FormatError) {
        var reader = ByteReader(bytes)
        self = try Self(from: &reader)
        try reader.expectEnd(String(describing: Self.self))
    }
}

extension Array where Element == UInt8 {
    /// Whether these bytes sort before `other` in byte order: unsigned bytes compared from the
    /// first, and a proper prefix first. That is `lexicographicallyPrecedes` and SQLite's BLOB
    /// order, compared eight bytes at a time: state keys are sorted in every block (the change
    /// set goes to the tree and the store in key order), and the generic comparison, a byte
    /// and a bounds check per step, was about 1% of a validator's processor time.
    @inlinable
    public func precedesInByteOrder(_ other: [UInt8]) -> Bool {
        let common = Swift.min(count, other.count)
        return withUnsafeBytes { left in
            other.withUnsafeBytes { right in
                var offset = 0
                while offset + 8 <= common {
                    let a = UInt64(bigEndian: left.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    let b = UInt64(bigEndian: right.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    if a != b { return a < b }
                    offset += 8
                }
                while offset < common {
                    if left[offset] != right[offset] { return left[offset] < right[offset] }
                    offset += 1
                }
                return count < other.count
            }
        }
    }
}
