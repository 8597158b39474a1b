import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiNode

/// One signature check per transaction per node, however many copies gossip brings.
@Suite struct SignatureVerdictsTests {
    static let chainID = try! ChainID("socai-verdicts")

    static func transfer(_ index: Int, forged: Bool = false) throws -> TransactionEnvelope {
        let key = try SigningKey(seed: SHA256.hash(Array("verdicts \(index)".utf8)))
        let from = DID(initialKey: PublicKey(of: key))
        let to = DID(initialKey: PublicKey(of: try SigningKey(seed: SHA256.hash(Array("verdicts to".utf8)))))
        var envelope = try Transfer(from: from, to: to, amount: 1).envelope(chainID: chainID, key: key, nonce: 1)
        if forged {
            var bytes = envelope.signature.bytes
            bytes[9] ^= 0x04
            envelope.signature = try Signature(bytes)
        }
        return envelope
    }

    @Test func recordsValidAndForgedVerdictsAndAnswersCopiesFromTheRecord() throws {
        // The hash covers the signature, so a forged copy of a valid transaction is another
        // entry, never answered with the valid one's verdict.
        var forgedCopy = try Self.transfer(3)
        var bytes = forgedCopy.signature.bytes
        bytes[0] ^= 0x01
        let validCopy = forgedCopy
        forgedCopy.signature = try Signature(bytes)
        #expect(validCopy.hash != forgedCopy.hash)
        let verdicts = SignatureVerdicts(capacity: 8)
        let valid = try Self.transfer(1)
        let forged = try Self.transfer(2, forged: true)
        #expect(verdicts.isValid(valid))
        #expect(!verdicts.isValid(forged))
        #expect(verdicts.count == 2)
        let copies = SignatureVerdicts(capacity: 8)
        #expect(copies.isValid(validCopy))
        #expect(!copies.isValid(forgedCopy))
        // A copy is answered from the record: the count does not grow and the verdict holds.
        #expect(verdicts.isValid(valid))
        #expect(!verdicts.isValid(forged))
        #expect(verdicts.count == 2)
    }

    @Test func holdsAtMostItsCapacity() throws {
        let verdicts = SignatureVerdicts(capacity: 3)
        let envelopes = try (0..<5).map { try Self.transfer(10 + $0) }
        for envelope in envelopes { #expect(verdicts.isValid(envelope)) }
        #expect(verdicts.count == 3)
        // Asking about a forgotten one records it anew, still within bounds and still valid.
        #expect(verdicts.isValid(envelopes[0]))
        #expect(verdicts.count == 3)
    }
}
