import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiAudit

/// The consent audit: one citizen's history, and the auditor's own coverage check.
@Suite struct ConsentAuditTests {
    func replayed(_ fixture: SampleFixture, _ auditor: ConsentAuditor) throws -> ReplayReport {
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let replayAuditor = ReplayAuditor(genesis: fixture.sample.genesis, workers: 2)
        replayAuditor.onTransaction = { auditor.record($0) }
        return replayAuditor.replay(try ExportBlockSource(path: path))
    }

    @Test func aCitizensGrantsRevocationsAndAccessesAreListedInOrder() throws {
        let fixture = try SampleFixture()
        let citizen1 = ConsentAuditor(subject: fixture.sample.did(fixture.sample.citizens[1]))
        #expect(try replayed(fixture, citizen1).valid)
        #expect(citizen1.events.map(\.kind) == [.grant, .access, .revoke])
        #expect(citizen1.events.map(\.height) == [1, 2, 4])
        #expect(citizen1.events.allSatisfy { $0.consentID == fixture.consentIDs[1].hex })
        #expect(citizen1.events[0].timeMilliseconds == SampleChain.genesisTimeMilliseconds + 1_000)
        #expect(citizen1.events[1].transactionIndex == 2)

        let citizen0 = ConsentAuditor(subject: fixture.sample.did(fixture.sample.citizens[0]))
        _ = try replayed(fixture, citizen0)
        #expect(citizen0.events.map(\.kind) == [.grant, .access, .access])
        #expect(citizen0.events.map(\.height) == [1, 2, 5])

        let nobody = ConsentAuditor(subject: fixture.sample.did(fixture.sample.citizens[9]))
        _ = try replayed(fixture, nobody)
        #expect(nobody.events.isEmpty)
    }

    @Test func anHonestChainHasNoViolations() throws {
        let fixture = try SampleFixture()
        let auditor = ConsentAuditor()
        #expect(try replayed(fixture, auditor).valid)
        #expect(auditor.accessesChecked == 4)
        #expect(auditor.violationCount == 0)
    }

    /// The check does not trust the state machine: fed transactions marked `ok` that no consent
    /// covered, it names each one.
    @Test func uncoveredAccessesAreViolations() throws {
        let sample = try SampleChain(citizenCount: 2)
        let auditor = ConsentAuditor()
        var index = 0
        func feed(_ envelope: TransactionEnvelope, height: UInt64) {
            auditor.record(
                ExecutedTransaction(
                    height: height, timeMilliseconds: SampleChain.genesisTimeMilliseconds + height * 1_000, index: index,
                    envelope: envelope, hash: envelope.hash, code: .ok))
            index += 1
        }
        let grant = try sample.consentGrant(citizen: 0, accessesMax: 1)
        feed(grant, height: 1)
        feed(try sample.access(consentID: grant.hash, label: "first"), height: 2)
        feed(try sample.access(consentID: grant.hash, label: "over the limit"), height: 3)
        feed(try sample.consentRevoke(citizen: 0, consentID: grant.hash), height: 4)
        feed(try sample.access(consentID: grant.hash, label: "after revocation"), height: 5)
        let never = Hash.sha256(Array("never granted".utf8))
        feed(try sample.access(consentID: never, label: "no consent"), height: 6)
        let short = try sample.consentGrant(citizen: 1, validUntilMilliseconds: SampleChain.genesisTimeMilliseconds + 7_500)
        feed(short, height: 7)
        feed(try sample.access(consentID: short.hash, label: "expired"), height: 8)

        #expect(auditor.accessesChecked == 5)
        #expect(auditor.violations.map(\.height) == [3, 5, 6, 8])
        #expect(auditor.violations[0].reason == "consent \(grant.hash) had already been used 1 of 1 times")
        #expect(auditor.violations[1].reason == "consent \(grant.hash) was revoked at block 4")
        #expect(auditor.violations[2].reason == "no consent \(never) was granted before it")
        #expect(
            auditor.violations[3].reason
                == "consent \(short.hash) expired at \(SampleChain.genesisTimeMilliseconds + 7_500), before the block time \(SampleChain.genesisTimeMilliseconds + 8_000)"
        )
    }
}
