import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiAudit

/// A batch's signatures are checked in chunks that the signature threads and the execution
/// thread claim between them; whoever checks which chunk, every flag must be that item's own.
@Suite("Replay signature work")
struct SignatureWorkTests {
    /// `count` signed transactions; those at `forged` carry another transaction's signature.
    func items(_ count: Int, forged: Set<Int>) throws -> [SignatureItem] {
        let chainID = try ChainID("socai-work")
        let key = try SigningKey(seed: SHA256.hash(Array("signature work".utf8)))
        return try (0..<count).map { index in
            var envelope = try TransactionEnvelope.signed(
                chainID: chainID, key: key, nonce: UInt64(index + 1), kind: 3, payload: [UInt8(index & 0xff)])
            if forged.contains(index) { envelope.nonce += 1_000 }
            return .transaction(envelope)
        }
    }

    @Test(
        "flags are exact however the chunks are shared out",
        arguments: [(0, 0), (1, 0), (64, 1), (65, 1), (130, 2), (300, 1), (300, 3)])
    func flagsAreExact(count: Int, threads: Int) throws {
        let forged: Set<Int> = count == 0 ? [] : [0, count / 2, count - 1]
        let work = SignatureWork(items: try items(count, forged: forged), chainID: try ChainID("socai-work"))
        #expect(work.chunks == (count + SignatureWork.chunkItemsMax - 1) / SignatureWork.chunkItemsMax)
        // No signature thread at all (threads 0): the waiting thread checks every chunk itself.
        if threads > 0 { work.start(threads: threads) }
        work.waitHelpingCheck()
        let valid = work.valid()
        #expect(valid.count == count)
        #expect(valid.indices.filter { !valid[$0] } == forged.sorted())
        if count > 0 { #expect(work.checkNanoseconds() > 0) }
    }
}
