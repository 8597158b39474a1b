/// Appends the canonical big-endian encoding of primitive values to a byte array.
public struct ByteWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// Creates an empty writer.
    public init() {}

    /// Appends one byte.
    public mutating func write(_ value: UInt8) { bytes.append(value) }

    /// Appends a 16-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends a 32-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    /// Appends a 64-bit unsigned integer, big-endian.
    public mutating func write(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// Appends raw bytes with no length prefix (fixed-size fields).
    public mutating func writeRaw(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

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

    /// Reads one byte.
    public mutating func readUInt8(_ field: String) throws(FormatError) -> UInt8 {
        try readRaw(1, field)[0]
    }

    /// Reads a big-endian 16-bit unsigned integer.
    public mutating func readUInt16(_ field: String) throws(FormatError) -> UInt16 {
        try readRaw(2, field).reduce(0) { $0 << 8 | UInt16($1) }
    }

    /// Reads a big-endian 32-bit unsigned integer.
    public mutating func readUInt32(_ field: String) throws(FormatError) -> UInt32 {
        try readRaw(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Reads a big-endian 64-bit unsigned integer.
    public mutating func readUInt64(_ field: String) throws(FormatError) -> UInt64 {
        try readRaw(8, field).reduce(0) { $0 << 8 | UInt64($1) }
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
        let length = Int(try readUInt8(field + " length"))
        guard length <= maximum else {
            throw FormatError(.overLimit, "\(field): length \(length) exceeds the maximum \(maximum)")
        }
        return try readRaw(length, field)
    }

    /// Reads a u32 length and that many bytes, rejecting lengths over `maximum` before reading.
    public mutating func readLongBytes(_ field: String, maximum: Int) throws(FormatError) -> [UInt8] {
        let length = Int(try readUInt32(field + " length"))
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
    public func expectEnd(_ structure: String) throws(FormatError) {
        guard remaining == 0 else {
            throw FormatError(.trailingBytes, "\(structure): \(remaining) trailing bytes after offset \(offset)")
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
        var writer = ByteWriter()
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
