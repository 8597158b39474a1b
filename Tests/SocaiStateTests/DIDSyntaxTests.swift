import SocaiCore
import Testing

@testable import SocaiState

/// The did:socai identifier syntax: the prefix, then 1 or more base58btc characters, 64
/// bytes in all at most.
@Suite("did:socai syntax")
struct DIDSyntaxTests {
    static let alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

    @Test("every base58btc character is accepted, and every other byte refused")
    func alphabetExactly() throws {
        for byte in UInt8(0)...UInt8(255) {
            let inAlphabet = Self.alphabet.utf8.contains(byte)
            #expect(DID.isBase58(byte) == inAlphabet, "byte \(byte)")
        }
        // The whole alphabet, in two identifiers (it is longer than one may be).
        _ = try DID("did:socai:" + Self.alphabet.prefix(29))
        _ = try DID("did:socai:" + Self.alphabet.dropFirst(29))
        for bad in ["0", "O", "I", "l", "+", "/", "_", "é", " "] {
            #expect(throws: FormatError.self, "\(bad)") { try DID("did:socai:abc" + bad) }
        }
    }

    @Test("the prefix, a non-empty suffix and the length limit are enforced")
    func shape() throws {
        #expect(throws: FormatError.self) { try DID("did:socai:") }
        #expect(throws: FormatError.self) { try DID("did:key:z6Mk") }
        #expect(throws: FormatError.self) { try DID("DID:socai:abc") }
        let longest = "did:socai:" + String(repeating: "a", count: LedgerLimits.didBytesMax - 10)
        _ = try DID(longest)
        #expect(throws: FormatError.self) { try DID(longest + "a") }
    }

    @Test("identifiers order by their bytes")
    func order() throws {
        let names = ["did:socai:b", "did:socai:A", "did:socai:a", "did:socai:ab", "did:socai:Z9"]
        let sorted = try names.map { try DID($0) }.sorted().map(\.value)
        #expect(sorted == names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }
}
