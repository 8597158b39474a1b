/// Writes a `DIDDocument` as JSON directly, byte for byte what `DIDJSON`'s `JSONEncoder`
/// (sorted keys, `/` unescaped) writes for it, at a small fraction of the cost: the resolver
/// renders a document for every answer it computes. `DIDDocumentJSONTests` holds the two
/// encoders to the same bytes.
enum DIDDocumentJSON {
    /// Room reserved up front: a did:socai document with two keys and a service is about 700 bytes.
    static let initialCapacityBytes = 1_024

    /// The document's JSON: members in sorted key order, absent optionals left out.
    static func encode(_ document: DIDDocument) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(initialCapacityBytes)
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        /// A member holding a list of strings, left out when absent.
        func strings(_ name: StaticString, _ value: [String]?) {
            guard let value else { return }
            key(name)
            writeStrings(value, to: &out)
        }
        /// A member holding a list of objects, left out when absent; `members` writes one
        /// object's members (in sorted order) between its braces.
        func objects<Item>(_ name: StaticString, _ items: [Item]?, _ members: (Item, inout [UInt8]) -> Void) {
            guard let items else { return }
            key(name)
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "{"))
                members(item, &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        // Sorted as JSONEncoder sorts: `@` before letters, then code-unit order.
        key("@context")
        writeStrings(document.context, to: &out)
        strings("assertionMethod", document.assertionMethod)
        strings("authentication", document.authentication)
        strings("capabilityDelegation", document.capabilityDelegation)
        strings("capabilityInvocation", document.capabilityInvocation)
        if let value = document.controller {
            key("controller")
            writeString(value, to: &out)
        }
        key("id")
        writeString(document.id, to: &out)
        strings("keyAgreement", document.keyAgreement)
        objects("service", document.service) { service, out in
            writeMember("id", service.id, first: true, to: &out)
            writeMember("serviceEndpoint", service.serviceEndpoint, first: false, to: &out)
            writeMember("type", service.type, first: false, to: &out)
        }
        objects("verificationMethod", document.verificationMethod) { method, out in
            writeMember("controller", method.controller, first: true, to: &out)
            writeMember("id", method.id, first: false, to: &out)
            writeMember("publicKeyMultibase", method.publicKeyMultibase, first: false, to: &out)
            writeMember("type", method.type, first: false, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `"name":"value"`, after a comma unless it is the object's first member.
    static func writeMember(_ name: StaticString, _ value: String, first: Bool, to out: inout [UInt8]) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
        writeString(value, to: &out)
    }

    static func writeStrings(_ values: [String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(value, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string as JSONEncoder escapes it: `"` and `\`, the named control escapes, other
    /// control characters as `\u00XX`; `/` and non-ASCII as they are (UTF-8).
    static func writeString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
