import SocaiCore
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
}
