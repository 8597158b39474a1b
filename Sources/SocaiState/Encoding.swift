import SocaiCore

/// Field helpers shared by payloads and records (docs/FORMAT.md, "Ledger encodings").
extension ByteWriter {
    /// A u8 length and the UTF-8 bytes (identifiers, codes, names: at most 255 bytes).
    mutating func writeShortText(_ text: String) {
        writeShortBytes(Array(text.utf8))
    }

    /// A u16 length and the UTF-8 bytes (free text: at most 65535 bytes).
    mutating func writeText(_ text: String) {
        let bytes = Array(text.utf8)
        precondition(bytes.count <= Int(UInt16.max), "text over 65535 bytes")
        write(UInt16(bytes.count))
        writeRaw(bytes)
    }

    /// A u16 count followed by each element.
    mutating func writeList<Element>(_ elements: [Element], _ body: (inout ByteWriter, Element) -> Void) {
        precondition(elements.count <= Int(UInt16.max), "list over 65535 elements")
        write(UInt16(elements.count))
        for element in elements { body(&self, element) }
    }

    /// A flag and, when present, the value.
    mutating func writeOptional<Value>(_ value: Value?, _ body: (inout ByteWriter, Value) -> Void) {
        if let value {
            write(UInt8(1))
            body(&self, value)
        } else {
            write(UInt8(0))
        }
    }
}

extension ByteReader {
    /// Reads a u8-length UTF-8 string of at most `maximum` bytes.
    mutating func readShortText(_ field: String, maximum: Int) throws(FormatError) -> String {
        try readShortString(field, maximum: maximum)
    }

    /// Reads a u16-length UTF-8 string of at most `maximum` bytes.
    mutating func readText(_ field: String, maximum: Int) throws(FormatError) -> String {
        let length = Int(try readUInt16(field + " length"))
        guard length <= maximum else {
            throw FormatError(.overLimit, "\(field): length \(length) exceeds the maximum \(maximum)")
        }
        let raw = try readRaw(length, field)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw FormatError(.nonCanonical, "\(field): not valid UTF-8")
        }
        return text
    }

    /// Reads a u16 count (at most `maximum`) and that many elements.
    mutating func readList<Element>(
        _ field: String, maximum: Int, _ body: (inout ByteReader) throws(FormatError) -> Element
    ) throws(FormatError) -> [Element] {
        let count = Int(try readUInt16(field + " count"))
        guard count <= maximum else {
            throw FormatError(.overLimit, "\(field): \(count) entries exceed the maximum \(maximum)")
        }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try body(&self)) }
        return elements
    }

    /// Reads a flag and, when set, the value.
    mutating func readOptional<Value>(
        _ field: String, _ body: (inout ByteReader) throws(FormatError) -> Value
    ) throws(FormatError) -> Value? {
        try readFlag(field + " flag") ? try body(&self) : nil
    }
}

/// Throws unless `values` is strictly ascending (sorted, no duplicates): sets have one encoding.
func requireStrictlyAscending<Value: Comparable>(_ values: [Value], _ field: String) throws(FormatError) {
    for index in values.indices.dropFirst() where !(values[index - 1] < values[index]) {
        throw FormatError(.nonCanonical, "\(field) must be sorted ascending without duplicates")
    }
}
