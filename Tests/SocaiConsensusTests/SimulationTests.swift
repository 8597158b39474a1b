import Foundation
import SocaiConsensus
import SocaiCore
import SocaiHarness
import Testing

/// Deterministic simulation of whole networks of real state machines (the simulation lives in
/// SocaiHarness, which also runs it as a swarm: `socai sim --seeds 1-10000`).
///
/// `make test` runs `defaultSeedsPerVariant` seeds of each 4-validator variant and a third
/// as many of the 7-validator one (each of its seeds costs about three times as much).
/// Longer runs: `SOCAI_SIM_SEEDS=10000 swift test --filter SimulationTests` (seeds per
/// variant, from `SOCAI_SIM_FIRST_SEED`, default 0), and `SOCAI_SIM_SEED=1234` reruns one
/// seed of every variant alone, printing every node's final state if it fails. A failure
/// names its variant and seed.
@Suite struct SimulationTests {
    static let defaultSeedsPerVariant: UInt64 = 60

    static func seeds(for variant: SimulationVariant) -> [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let single = environment["SOCAI_SIM_SEED"].flatMap(UInt64.init) { return [single] }
        let first = environment["SOCAI_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 0
        if let count = environment["SOCAI_SIM_SEEDS"].flatMap(UInt64.init) { return Array(first..<(first + count)) }
        return Array(0..<(variant.powers.count > 4 ? defaultSeedsPerVariant / 3 : defaultSeedsPerVariant))
    }

    static func describe(_ variant: SimulationVariant, seed: UInt64, _ report: SimulationReport) -> String {
        let scenario = SimulationScenario(seed: seed, variant: variant)
        return "[\(variant)] seed \(seed) (\(scenario)): \(report.failures.joined(separator: "; "))"
            + " — rerun alone with SOCAI_SIM_SEED=\(seed)"
    }

    @Test(arguments: SimulationVariant.all)
    func agreementValidityAndProgressHoldForEverySeed(variant: SimulationVariant) {
        var failures: [String] = []
        var totals = (events: 0, heights: UInt64(0), lockChanges: 0, evidence: 0, roundsAboveZero: 0)
        let seeds = Self.seeds(for: variant)
        for seed in seeds {
            let simulation = Simulation(seed: seed, variant: variant)
            let report = simulation.run()
            if !report.failures.isEmpty {
                // Run alone, a failing seed also shows every node's final state.
                let details = seeds.count == 1 ? "\n" + simulation.describeNodes() : ""
                failures.append(Self.describe(variant, seed: seed, report) + details)
            }
            totals.events += report.events
            totals.heights += report.committedHeights.max() ?? 0
            totals.lockChanges += report.lockChanges
            totals.evidence += report.evidenceReported
            if report.maxCommitRound > 0 { totals.roundsAboveZero += 1 }
        }
        #expect(failures.isEmpty, "\(failures.count) failing seeds:\n\(failures.joined(separator: "\n"))")
        // The faults must actually exercise the interesting paths, or the run proves little.
        // (Each run also checks that an honest node holding two conflicting votes reported them.)
        if seeds.count >= 20 {
            #expect(totals.roundsAboveZero > 0, "no seed of [\(variant)] committed beyond round 0")
            if !variant.byzantineCandidates.isEmpty { #expect(totals.evidence > 0) }
        }
    }

    @Test func aSeedReproducesItsRunExactly() {
        for variant in [SimulationVariant.equalByzantine, .weightedHonest] {
            let first = Simulation(seed: 42, variant: variant).run()
            let second = Simulation(seed: 42, variant: variant).run()
            #expect(first.digest == second.digest && first.events == second.events)
            #expect(first.committedHeights == second.committedHeights)
        }
    }

    /// Seed 3 of the equivocating 4-validator network: lossy, slow links (up to 1.5 s) and
    /// one validator cut off for six seconds while validator 2 equivocates; a lock moves to
    /// a newer polka and a height is decided only in round 4.
    @Test func pinnedSeedWithEquivocationLockChangeAndLaterRounds() {
        let variant = SimulationVariant.equalByzantine
        let seed: UInt64 = 3
        // Pinned before crashes and clock skew joined the fault mix: run without them.
        let report = Simulation(seed: seed, variant: variant, extendedFaults: false).run()
        #expect(report.failures.isEmpty, "\(Self.describe(variant, seed: seed, report))")
        #expect(report.evidenceReported > 0)
        #expect(report.maxCommitRound >= 4)
        #expect(report.lockChanges > 0)
    }
}
