import SocaiCore
import SocaiCrypto
import Testing

/// The envelope keeps its hash rather than computing it on each read; it must still be the
/// docs/FORMAT.md §4 hash of the envelope as it stands, after any change to any field.
@Suite("Transaction hash kept with the envelope")
struct TransactionHashTests {
    /// The hash by its definition, computed here from the encoding.
    func definedHash(_ envelope: TransactionEnvelope) -> Hash { Hash.tagged(.hashTransaction, envelope.canonicalBytes) }

    @Test("made, signed, decoded and changed in every field, the hash is the one its bytes define")
    func hashFollowsEveryField() throws {
        var envelope = try TransactionEnvelope.signed(
            chainID: try ChainID("socai-hash"), key: Fixture.key1, nonce: 7, kind: 3, payload: [1, 2, 3])
        #expect(envelope.hash == definedHash(envelope))
        let decoded = try TransactionEnvelope(canonicalBytes: envelope.canonicalBytes)
        #expect(decoded.hash == envelope.hash)
        #expect(decoded == envelope)

        var seen: Set<Hash> = [envelope.hash]
        func changed(_ change: (inout TransactionEnvelope) throws -> Void) throws {
            try change(&envelope)
            #expect(envelope.hash == definedHash(envelope))
            #expect(seen.insert(envelope.hash).inserted, "a changed envelope kept an earlier hash")
        }
        try changed { $0.chainID = try ChainID("socai-other") }
        try changed { $0.signer = Fixture.public2 }
        try changed { $0.nonce += 1 }
        try changed { $0.kind = 4 }
        try changed { $0.payload[0] ^= 1 }
        try changed { $0.payload.append(9) }
        try changed { $0.signature = Signature(signing: $0.signingBytes, with: Fixture.key2) }

        // A copy changed afterwards leaves the original's hash alone.
        let original = envelope
        var copy = envelope
        copy.nonce += 1
        #expect(original.hash == definedHash(original))
        #expect(copy.hash == definedHash(copy))
        #expect(copy.hash != original.hash)
    }
}
