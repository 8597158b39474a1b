/// The `did:key` identifier of an Ed25519 public key (W3C CCG did:key method): `did:key:z`
/// followed by base58btc of the multicodec prefix `0xed 0x01` and the 32 key bytes.
public enum DIDKey {
    /// The multicodec varint prefix of an Ed25519 public key.
    public static let ed25519Multicodec: [UInt8] = [0xed, 0x01]

    /// The multibase (base58btc, prefix `z`) encoding of `publicKey` with its multicodec prefix.
    public static func multibase(for publicKey: PublicKey) -> String {
        "z" + Base58.encode(ed25519Multicodec + publicKey.bytes)
    }

    /// `did:key:z6Mk…` for `publicKey`.
    public static func identifier(for publicKey: PublicKey) -> String {
        "did:key:" + multibase(for: publicKey)
    }
}

/// Bitcoin's base58 alphabet encoding (base58btc), as multibase `z` uses it.
public enum Base58 {
    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// Encodes `bytes`; each leading zero byte becomes a leading '1'.
    public static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [UInt8] = []  // base-58 digits, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let text = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: text, as: UTF8.self)
    }
}
