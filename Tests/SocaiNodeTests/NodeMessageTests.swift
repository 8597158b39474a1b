import SocaiCore
import SocaiCrypto
import SocaiNetwork
import SocaiState
import Testing

@testable import SocaiNode

/// Peer messages (docs/FORMAT.md §27): each kind round-trips, and the `transactions` batch
/// refuses every count and body outside its bounds.
@Suite("Peer messages")
struct NodeMessageTests {
    static let chainID = try! ChainID("socai-messages")

    static func envelopes(_ count: Int) throws -> [TransactionEnvelope] {
        try (0..<count).map { index in
            let key = try SigningKey(seed: SHA256.hash(Array("message signer \(index)".utf8)))
            return try DIDCreate(did: DID(initialKey: PublicKey(of: key))).envelope(chainID: chainID, key: key, nonce: 1)
        }
    }

    @Test("a transaction, a batch, a status and a block request round-trip")
    func roundTrips() throws {
        let batch = try Self.envelopes(3)
        for message: NodeMessage in [
            .transaction(batch[0]), .transactions(batch), .transactions([batch[1]]), .status(height: 42),
            .blockRequest(fromHeight: 7, countMax: 32),
        ] {
            #expect(try NodeMessage(canonicalBytes: message.canonicalBytes) == message)
        }
        // The batch is the kind byte, a u16 count and each envelope as a length-prefixed string.
        var expected = ByteWriter()
        expected.write(UInt8(8))
        expected.write(UInt16(3))
        for envelope in batch { expected.writeLongBytes(envelope.canonicalBytes) }
        #expect(NodeMessage.transactions(batch).canonicalBytes == expected.bytes)
    }

    @Test("a batch of the largest count decodes; an empty or larger one, or a short one, does not")
    func batchBounds() throws {
        let most = Int(NodeMessage.transactionsPerMessageMax)
        let full = try Self.envelopes(most)
        #expect(try NodeMessage(canonicalBytes: NodeMessage.transactions(full).canonicalBytes) == .transactions(full))

        func batchBytes(count: UInt16, _ envelopes: [TransactionEnvelope]) -> [UInt8] {
            var writer = ByteWriter()
            writer.write(UInt8(8))
            writer.write(count)
            for envelope in envelopes { writer.writeLongBytes(envelope.canonicalBytes) }
            return writer.bytes
        }
        #expect(throws: FormatError.self) { try NodeMessage(canonicalBytes: batchBytes(count: 0, [])) }
        #expect(throws: FormatError.self) {
            try NodeMessage(canonicalBytes: batchBytes(count: UInt16(most + 1), full + [full[0]]))
        }
        // The count promises more transactions than follow.
        #expect(throws: FormatError.self) { try NodeMessage(canonicalBytes: batchBytes(count: 3, Array(full.prefix(2)))) }
        // Bytes after the last transaction.
        #expect(throws: FormatError.self) { try NodeMessage(canonicalBytes: batchBytes(count: 1, Array(full.prefix(2)))) }
        // One transaction in the batch that is not an envelope.
        var corrupt = ByteWriter()
        corrupt.write(UInt8(8))
        corrupt.write(UInt16(2))
        corrupt.writeLongBytes(full[0].canonicalBytes)
        corrupt.writeLongBytes([1, 2, 3])
        #expect(throws: FormatError.self) { try NodeMessage(canonicalBytes: corrupt.bytes) }
    }

    @Test("decoding a batch gives one signature verdict per transaction, in order")
    func batchVerdicts() throws {
        var batch = try Self.envelopes(3)
        batch[1].signature = batch[0].signature
        let payload = NodeMessage.transactions(batch).canonicalBytes
        let peer = PublicKey(of: try SigningKey(seed: SHA256.hash(Array("peer".utf8))))
        guard case .message(let message, let verdicts) = ValidatorNode.decode(PeerMessage(peer: peer, payload: payload))
        else {
            Issue.record("a well-formed batch did not decode")
            return
        }
        #expect(message == .transactions(batch))
        #expect(verdicts == [true, false, true])
    }
}
