import SocaiCore
import SocaiCrypto

/// The did:key method for Ed25519 keys (W3C CCG did:key, resolved locally without a ledger):
/// `did:key:z` + base58btc(`0xed 0x01` ‖ 32 key bytes).
public enum DIDKeyMethod {
    /// The method prefix.
    public static let prefix = "did:key:"
    /// The multicodec varint prefix of an X25519 public key (`z6LS…` identifiers).
    public static let x25519Multicodec: [UInt8] = [0xec, 0x01]
    /// Longest did:key identifier accepted, in bytes (an Ed25519 one is 56).
    public static let identifierBytesMax = 128
    /// The Ed25519 verification-key context (2020 suite).
    public static let ed25519Context = "https://w3id.org/security/suites/ed25519-2020/v1"
    /// The X25519 key-agreement context (2020 suite).
    public static let x25519Context = "https://w3id.org/security/suites/x25519-2020/v1"

    /// Why an identifier is not a resolvable did:key.
    public enum ParseError: Error, Equatable, Sendable {
        /// Not `did:key:z…` with valid base58btc.
        case malformed
        /// A multicodec other than Ed25519 (`0xed 0x01`), e.g. X25519 or secp256k1.
        case unsupportedKeyType
        /// The right prefix, but not 32 bytes or not a point on the curve.
        case invalidKey
    }

    /// The Ed25519 public key a did:key identifier encodes.
    public static func publicKey(from identifier: String) throws(ParseError) -> PublicKey {
        try parse(identifier).publicKey
    }

    /// The key and its X25519 counterpart. The conversion checks the point (including its
    /// subgroup, the costly part), so it is done once per resolution.
    static func parse(_ identifier: String) throws(ParseError) -> (publicKey: PublicKey, keyAgreement: [UInt8]) {
        guard identifier.utf8.count <= identifierBytesMax, identifier.hasPrefix(prefix + "z") else { throw .malformed }
        let encoded = String(identifier.dropFirst(prefix.count + 1))
        guard let decoded = Base58Decoding.decode(encoded), decoded.count >= 2 else { throw .malformed }
        guard Array(decoded.prefix(2)) == DIDKey.ed25519Multicodec else { throw .unsupportedKeyType }
        let keyBytes = Array(decoded.dropFirst(2))
        guard keyBytes.count == Ed25519.publicKeyBytes, let agreement = Ed25519.x25519PublicKey(fromEd25519: keyBytes),
            let key = try? PublicKey(keyBytes)
        else { throw .invalidKey }
        // Only the canonical spelling is the identifier: re-encoding must give it back.
        guard DIDKey.identifier(for: key) == identifier else { throw .malformed }
        return (key, agreement)
    }

    /// The did:key document of `publicKey`, in the did:key specification's shape: one
    /// `Ed25519VerificationKey2020` method `DID#z6Mk…` referenced from `authentication`,
    /// `assertionMethod`, `capabilityInvocation` and `capabilityDelegation`, and the derived
    /// `X25519KeyAgreementKey2020` method `DID#z6LS…` referenced from `keyAgreement`.
    public static func document(for publicKey: PublicKey) -> DIDDocument {
        // A PublicKey of a valid did:key converts; a raw one could be off-curve (no agreement key then).
        document(for: publicKey, keyAgreement: Ed25519.x25519PublicKey(fromEd25519: publicKey.bytes))
    }

    static func document(for publicKey: PublicKey, keyAgreement: [UInt8]?) -> DIDDocument {
        let did = DIDKey.identifier(for: publicKey)
        let signingFragment = DIDKey.multibase(for: publicKey)
        let agreement = keyAgreement.map { "z" + Base58.encode(x25519Multicodec + $0) }
        var methods = [
            DIDDocument.VerificationMethod(
                id: did + "#" + signingFragment, type: "Ed25519VerificationKey2020", controller: did,
                publicKeyMultibase: signingFragment)
        ]
        var contexts = [DIDDocument.didContext, ed25519Context]
        if let agreement {
            methods.append(
                DIDDocument.VerificationMethod(
                    id: did + "#" + agreement, type: "X25519KeyAgreementKey2020", controller: did,
                    publicKeyMultibase: agreement))
            contexts.append(x25519Context)
        }
        let signing = [did + "#" + signingFragment]
        return DIDDocument(
            context: contexts, id: did, verificationMethod: methods, authentication: signing, assertionMethod: signing,
            capabilityInvocation: signing, capabilityDelegation: signing,
            keyAgreement: agreement.map { [did + "#" + $0] })
    }
}

/// Base58btc decoding (the inverse of `Base58.encode` in SocaiCore).
public enum Base58Decoding {
    /// Longest text decoded, in characters (bounds the quadratic work).
    public static let textBytesMax = 256
    private static let values: [UInt8: Int] = {
        var table: [UInt8: Int] = [:]
        for (index, byte) in "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8.enumerated() {
            table[byte] = index
        }
        return table
    }()

    /// The bytes `text` encodes, or nil when it is empty, too long or has a character outside the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard !characters.isEmpty, characters.count <= textBytesMax else { return nil }
        let zeros = characters.prefix { $0 == UInt8(ascii: "1") }.count
        var bytes: [UInt8] = []  // base-256 digits, least significant first
        for character in characters {
            guard var carry = values[character] else { return nil }
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}
