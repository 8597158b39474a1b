import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiDID

/// did:key for Ed25519, against the W3C CCG did:key test vectors (`test-vectors/ed25519-x25519.json`
/// of w3c-ccg/did-method-key): seeds 0…4, their DIDs, X25519 key-agreement ids and base58 keys.
@Suite struct DIDKeyMethodTests {
    struct Vector {
        let seedLastByte: UInt8
        let did: String
        let publicKeyBase58: String
        let keyAgreementFragment: String
        let keyAgreementBase58: String
    }

    static let vectors = [
        Vector(
            seedLastByte: 0, did: "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
            publicKeyBase58: "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
            keyAgreementFragment: "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW",
            keyAgreementBase58: "7By6kV2t2d188odEM4ExAve1UithKT6dLva4dwsDT3ak"),
        Vector(
            seedLastByte: 1, did: "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
            publicKeyBase58: "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
            keyAgreementFragment: "z6LSrHyXiPBhUbvPUtyUCdf32sniiMGPTAesgHrtEa4FePtr",
            keyAgreementBase58: "FcoNC5NqP9CePWbhfz95iHaEsCjGkZUioK9Ck7Qiw286"),
        Vector(
            seedLastByte: 2, did: "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
            publicKeyBase58: "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
            keyAgreementFragment: "z6LSkkqoZRC34AEpbkhZCqLDcHQVAxuLpQ7kC8XCXMVUfvjE",
            keyAgreementBase58: "A5fe37PAxhX5WNKngBpGHhC1KpNE7nwbK9oX2tqwxYxU"),
        Vector(
            seedLastByte: 3, did: "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
            publicKeyBase58: "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
            keyAgreementFragment: "z6LSiUo6AEDat8Ze4nQzDo67SGuHLLwsUGkxndHGUjsywHow",
            keyAgreementBase58: "7ocvdvQinfqtyQ3Dh9aA7ggoVCQkmfaoueZazHETDv3B"),
        Vector(
            seedLastByte: 4, did: "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL",
            publicKeyBase58: "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
            keyAgreementFragment: "z6LSrGb3qm4xMCEBjvwkLb2WEcXfTM94Tu1RyGCbT5wbg8i9",
            keyAgreementBase58: "FbQtKTG6FjWSeYZyowWYv2KBcCbwmHqH6HUuxdJ4xkwP"),
    ]

    @Test(arguments: vectors.indices) func specificationVector(_ index: Int) throws {
        let vector = Self.vectors[index]
        let key = try SigningKey(seed: Array(repeating: 0, count: 31) + [vector.seedLastByte])
        let publicKey = PublicKey(of: key)
        #expect(Base58.encode(publicKey.bytes) == vector.publicKeyBase58)
        #expect(DIDKey.identifier(for: publicKey) == vector.did)
        #expect(try DIDKeyMethod.publicKey(from: vector.did) == publicKey)

        let result = DIDResolver.resolve(vector.did, ledger: nil).result
        let document = try #require(result.didDocument)
        let signingID = vector.did + "#" + String(vector.did.dropFirst("did:key:".count))
        let agreementID = vector.did + "#" + vector.keyAgreementFragment
        #expect(document.id == vector.did)
        #expect(document.verificationMethod?.map(\.id) == [signingID, agreementID])
        #expect(document.verificationMethod?.allSatisfy { $0.controller == vector.did } == true)
        #expect(document.authentication == [signingID])
        #expect(document.assertionMethod == [signingID])
        #expect(document.capabilityInvocation == [signingID])
        #expect(document.capabilityDelegation == [signingID])
        #expect(document.keyAgreement == [agreementID])
        // The derived X25519 key is the vector's key: multibase = z + base58(0xec01 ‖ key).
        let agreement = try #require(document.verificationMethod?.last?.publicKeyMultibase)
        let decoded = try #require(Base58Decoding.decode(String(agreement.dropFirst())))
        #expect(Array(decoded.prefix(2)) == DIDKeyMethod.x25519Multicodec)
        #expect(Base58.encode(Array(decoded.dropFirst(2))) == vector.keyAgreementBase58)
    }

    @Test func roundTripKeyToDIDToDocumentToKey() throws {
        for label in ["a", "b", "citizen", "validator 7"] {
            let publicKey = PublicKey(of: try SigningKey(seed: SHA256.hash(Array(label.utf8))))
            let did = DIDKey.identifier(for: publicKey)
            let document = try #require(DIDResolver.resolve(did, ledger: nil).result.didDocument)
            let multibase = try #require(document.verificationMethod?.first?.publicKeyMultibase)
            let decoded = try #require(Base58Decoding.decode(String(multibase.dropFirst())))
            #expect(try PublicKey(Array(decoded.dropFirst(2))) == publicKey)
            #expect(try DIDKeyMethod.publicKey(from: document.id) == publicKey)
        }
    }

    @Test func malformedAndUnsupportedIdentifiers() {
        #expect(throws: DIDKeyMethod.ParseError.malformed) { try DIDKeyMethod.publicKey(from: "did:key:6Mk") }
        #expect(throws: DIDKeyMethod.ParseError.malformed) {
            try DIDKeyMethod.publicKey(from: "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDoo0p")
        }
        #expect(throws: DIDKeyMethod.ParseError.unsupportedKeyType) {
            try DIDKeyMethod.publicKey(from: "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
        }
        // Valid prefix, 31 key bytes.
        let short = "did:key:z" + Base58.encode(DIDKey.ed25519Multicodec + Array(repeating: 1, count: 31))
        #expect(throws: DIDKeyMethod.ParseError.invalidKey) { try DIDKeyMethod.publicKey(from: short) }
        #expect(DIDResolver.resolve(short, ledger: nil).result.didResolutionMetadata.error == .invalidDid)
        #expect(Base58Decoding.decode("") == nil)
        #expect(Base58Decoding.decode("11") == [0, 0])
        for bytes: [UInt8] in [[0, 0, 1], [255, 254], [0], Array(0..<40)] {
            #expect(Base58Decoding.decode(Base58.encode(bytes)) == bytes)
        }
        // A did:key has one version.
        let did = Self.vectors[0].did
        #expect(DIDResolver.resolve(did, options: .init(versionId: "2"), ledger: nil).result.httpStatus == 404)
        #expect(DIDResolver.resolve(did, options: .init(versionId: "1"), ledger: nil).result.httpStatus == 200)
    }
}
