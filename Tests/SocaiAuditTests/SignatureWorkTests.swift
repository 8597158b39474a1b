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

    @Test("a batch dropped unchecked, or checked and never waited for, is freed without a trap")
    func droppedWorkIsFreed() throws {
        // A replay that fails leaves batches read ahead behind: never waited for, and the
        // last perhaps never started.
        do { _ = SignatureWork(items: try items(70, forged: []), chainID: try ChainID("socai-work")) }
        do {
            let started = SignatureWork(items: try items(70, forged: []), chainID: try ChainID("socai-work"))
            started.start(threads: 1)
        }
        // The started batch above may still be on the signature queue, which holds it until
        // its last chunk is checked; a batch queued after it must still be answered.
        let last = SignatureWork(items: try items(1, forged: [0]), chainID: try ChainID("socai-work"))
        last.start(threads: 1)
        last.waitHelpingCheck()
        #expect(last.valid() == [false])
    }
}
