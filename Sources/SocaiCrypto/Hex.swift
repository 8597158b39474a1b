/// Lowercase hexadecimal, the only text form Socai uses for bytes in files and output.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes `bytes` as lowercase hexadecimal.
    public static func encode(_ bytes: [UInt8]) -> String {
        var characters = [UInt8]()
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Decodes lowercase hexadecimal. Uppercase is rejected so each value has one spelling.
    public static func decode(_ text: String) throws(CryptoError) -> [UInt8] {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else {
            throw CryptoError(.invalidHex, "hex text has an odd number of digits (\(characters.count))")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = value(characters[index]), let low = value(characters[index + 1]) else {
                throw CryptoError(.invalidHex, "hex text has a character other than 0-9 or a-f at offset \(index)")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Decodes hexadecimal that must be exactly `count` bytes long.
    public static func decode(_ text: String, count: Int) throws(CryptoError) -> [UInt8] {
        let bytes = try decode(text)
        guard bytes.count == count else {
            throw CryptoError(.invalidLength, "expected \(count) bytes (\(count * 2) hex digits), got \(bytes.count)")
        }
        return bytes
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
