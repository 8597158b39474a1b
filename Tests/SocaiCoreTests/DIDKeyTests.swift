import SocaiCore
import SocaiCrypto
import Testing

/// did:key identifiers for Ed25519 keys, checked against published did:key documents.
@Suite struct DIDKeyTests {
    // Pairs of (public key, did:key) taken from published did:key documents
    // (publicKeyBase58 decoded to hex), independent of this implementation.
    static let published: [(String, String)] = [
        (
            "6c2d48b1605684ef94363dc6158eeb6577466e1a36a740f2fc624617edb7712e",
            "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th"
        ),
        (
            "fa545ad5b31815046c3e3a7311d66c55f9d4acf555c49810403ac3eace4e5e00",
            "did:key:z6MkwJSaEMnE4u6LiqrZV1BJHSkc9x8S4mTm3ArNL1m19BZR"
        ),
    ]

    @Test(arguments: published)
    func matchesPublishedIdentifiers(publicKey: String, did: String) throws {
        #expect(DIDKey.identifier(for: try PublicKey(hex: publicKey)) == did)
    }

    @Test func base58KeepsLeadingZerosAndMatchesKnownEncodings() {
        #expect(Base58.encode([]) == "")
        #expect(Base58.encode([0]) == "1")
        #expect(Base58.encode([0, 0, 1]) == "112")
        #expect(Base58.encode(Array("Hello World!".utf8)) == "2NEpo7TZRRrLZSi2U")
    }

    /// Base58 one digit at a time, the textbook way: the yardstick for the encoder, which
    /// carries five digits per limb.
    static func referenceBase58(_ bytes: [UInt8]) -> String {
        let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [Int] = []  // least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += digits[index] * 256
                digits[index] = carry % 58
                carry /= 58
            }
            while carry > 0 {
                digits.append(carry % 58)
                carry /= 58
            }
        }
        return String(repeating: "1", count: zeros) + String(digits.reversed().map { alphabet[$0] })
    }

    @Test("base58 agrees with a digit-at-a-time encoder on leading zeros, limb edges and every length to 64")
    func base58AgreesWithReference() {
        var inputs: [[UInt8]] = [[0xff], [0, 0xff], Array(repeating: 0xff, count: 34), Array(repeating: 0, count: 5)]
        // 58^5 and its neighbours: where a limb fills up and carries into the next.
        inputs += [[0x27, 0x1f, 0x35, 0xa0], [0x27, 0x1f, 0x35, 0x9f], [0x27, 0x1f, 0x35, 0xa1]]
        for length in 0...64 {
            for zeros in [0, 1, 3] where zeros <= length {
                // Fixed pseudo-random bytes: SHA-256 of the case's name, as long as needed.
                let stream = (0..<3).flatMap { SHA256.hash(Array("base58 \(length) \(zeros) \($0)".utf8)) }
                inputs.append([UInt8](repeating: 0, count: zeros) + stream.prefix(length - zeros))
            }
        }
        for input in inputs {
            #expect(Base58.encode(input) == Self.referenceBase58(input), "\(input)")
        }
        #expect(inputs.count > 190)
    }
}
