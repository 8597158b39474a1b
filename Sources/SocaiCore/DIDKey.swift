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
    /// 58^5, the largest power of 58 below 2^32: the number is carried in limbs of five
    /// base-58 digits each.
    private static let limbBase: UInt64 = 656_356_768
    /// 58^4, the place value of a limb's most significant digit.
    private static let limbTopDigit: UInt32 = 11_316_496
    /// Longest input encoded, in bytes (bounds the quadratic work).
    public static let bytesMax = 1024

    /// Encodes `bytes`; each leading zero byte becomes a leading '1'.
    ///
    /// Every transaction that creates a DID derives its `did:key` here, so this is on a
    /// validator's hot path. Carrying the number in limbs of five base-58 digits does one
    /// multiply-and-divide per limb per input byte, a fifth of the work of one per digit.
    public static func encode(_ bytes: [UInt8]) -> String {
        precondition(bytes.count <= bytesMax, "base58 input over \(bytesMax) bytes")
        let zeros = bytes.prefix { $0 == 0 }.count
        // The number's limbs, least significant first; the top one is never zero.
        var limbs: [UInt32] = []
        limbs.reserveCapacity(bytes.count / 3 + 1)
        for byte in bytes[zeros...] {
            var carry = UInt64(byte)
            for index in limbs.indices {
                // A limb is below 2^30, so this stays below 2^39.
                carry += UInt64(limbs[index]) << 8
                limbs[index] = UInt32(truncatingIfNeeded: carry % limbBase)
                carry /= limbBase
            }
            while carry > 0 {
                limbs.append(UInt32(truncatingIfNeeded: carry % limbBase))
                carry /= limbBase
            }
        }
        var text = [UInt8](repeating: alphabet[0], count: zeros)
        text.reserveCapacity(zeros + 5 * limbs.count)
        for (position, limb) in limbs.enumerated().reversed() {
            // The limb's five digits, most significant first; the top limb's leading zero
            // digits are not written (the number has none).
            var leading = position == limbs.count - 1
            var value = limb
            var divisor = limbTopDigit
            for _ in 0..<5 {
                let digit = value / divisor
                value %= divisor
                divisor /= 58
                if leading && digit == 0 { continue }
                leading = false
                text.append(alphabet[Int(digit)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
