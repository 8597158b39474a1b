import SocaiHarness
import Testing

/// The harness's own checks, on synthetic observations: each must fail on the fault it exists for.
@Suite struct InvariantCheckerTests {
    /// A healthy run: three nodes with the same ten blocks, two transactions acknowledged,
    /// heights advancing after one heal.
    static func healthyRun() -> RunObservation {
        let blocks = (1...10).map { height in
            BlockObservation(
                height: UInt64(height), hash: "hash-\(height)", stateRoot: "root-\(height)",
                transactionHashes: height == 3 ? ["tx-a"] : height == 7 ? ["tx-b"] : [])
        }
        let nodes = (1...3).map { NodeObservation(name: "node\($0)", blocks: blocks) }.map { node -> NodeObservation in
            var node = node
            node.auditPassed = true
            return node
        }
        let samples = (0...40).map { step in
            let height = UInt64(min(10, 1 + step / 4))
            return HeightSample(atMilliseconds: UInt64(step) * 500, heights: [height, height, height])
        }
        return RunObservation(
            nodes: nodes, acknowledgedTransactions: ["tx-a", "tx-b"], samples: samples,
            heals: [HealEvent(fault: "kill node2", node: 1, healedAtMilliseconds: 5_000)], equivocators: [],
            livenessBoundMilliseconds: 10_000)
    }

    static func verdict(_ run: RunObservation, _ name: InvariantName) -> InvariantResult {
        InvariantChecker.check(run).first { $0.name == name }!
    }

    @Test func aHealthyRunPassesEveryInvariant() {
        let results = InvariantChecker.check(Self.healthyRun())
        #expect(results.count == InvariantName.allCases.count)
        for result in results { #expect(result.passed, "\(result.name.rawValue): \(result.detail)") }
    }

    @Test func aForkedStoreFailsIdenticalBlockHashes() {
        var run = Self.healthyRun()
        run.nodes[2].blocks[5].hash = "forked-6"
        let verdict = Self.verdict(run, .identicalBlockHashes)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("height 6"))
        #expect(Self.verdict(run, .identicalStateRoots).passed)
    }

    @Test func aDivergentStateRootFailsIdenticalStateRoots() {
        var run = Self.healthyRun()
        run.nodes[0].blocks[8].stateRoot = "other-root"
        #expect(!Self.verdict(run, .identicalStateRoots).passed)
        #expect(Self.verdict(run, .identicalBlockHashes).passed)
    }

    @Test func aMissingAcknowledgedTransactionFailsExactlyOnce() {
        var run = Self.healthyRun()
        run.acknowledgedTransactions.append("tx-lost")
        let verdict = Self.verdict(run, .committedExactlyOnce)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("tx-lost"))
    }

    @Test func aTransactionCommittedTwiceFailsExactlyOnce() {
        var run = Self.healthyRun()
        for node in run.nodes.indices { run.nodes[node].blocks[8].transactionHashes = ["tx-a"] }
        let verdict = Self.verdict(run, .committedExactlyOnce)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("heights 3 and 9"))
    }

    @Test func aStalledNodeFailsLiveness() {
        var run = Self.healthyRun()
        // node2 is healed at 5 s but stays at height 2 for the rest of the run.
        for index in run.samples.indices where run.samples[index].atMilliseconds >= 5_000 {
            run.samples[index].heights[1] = 2
        }
        let verdict = Self.verdict(run, .liveness)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("node2"))
    }

    @Test func aNodeThatMissesTheLastSampleIsJudgedByItsLastAnswer() {
        var run = Self.healthyRun()
        // node3 did not answer the last two samples in time; it had answered at the top.
        run.samples[run.samples.count - 1].heights[2] = nil
        run.samples[run.samples.count - 2].heights[2] = nil
        #expect(Self.verdict(run, .liveness).passed, "\(Self.verdict(run, .liveness).detail)")
    }

    @Test func aNodeThatStopsAnsweringFailsLivenessWhateverItHadReached() {
        var run = Self.healthyRun()
        // node3 was ahead of the others (height 10 from the start), then answered nothing
        // after 9 s: more than the 10 s bound before the run's end at 20 s.
        for index in run.samples.indices {
            run.samples[index].heights[2] = run.samples[index].atMilliseconds <= 9_000 ? 10 : nil
        }
        let verdict = Self.verdict(run, .liveness)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("node3 stalled: at height none"), "\(verdict.detail)")
    }

    @Test func aHaltedChainFailsLiveness() {
        var run = Self.healthyRun()
        for index in run.samples.indices where run.samples[index].atMilliseconds >= 4_000 {
            run.samples[index].heights = [3, 3, 3]
        }
        #expect(!Self.verdict(run, .liveness).passed)
    }

    @Test func anEquivocationWithoutCommittedEvidenceFails() {
        var run = Self.healthyRun()
        run.equivocators = ["byzantine-key"]
        #expect(!Self.verdict(run, .evidenceCommitted).passed)
        for node in run.nodes.indices { run.nodes[node].blocks[4].evidenceValidators = ["byzantine-key"] }
        #expect(Self.verdict(run, .evidenceCommitted).passed)
    }

    @Test func aFailedAuditFailsTheAuditInvariant() {
        var run = Self.healthyRun()
        run.nodes[1].auditPassed = false
        run.nodes[1].auditDetail = "FAILED at height 4"
        let verdict = Self.verdict(run, .auditPasses)
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("node2"))
    }
}
