import SocaiHarness
import Testing

/// The swarm runs seeds of every variant; crash-restarts and clock skew actually happen and
/// keep agreement; a failing seed would be reported with its details.
@Suite struct SimulationSwarmTests {
    @Test func aSwarmOfSeedsPassesAndExercisesEveryFault() {
        let summary = SimulationSwarm.run(seeds: 1_000...1_039)
        #expect(summary.passed, "first failure: \(String(describing: summary.firstFailure))")
        #expect(summary.seedsRun == 40)
        #expect(summary.restarts > 0)
        #expect(summary.seedsWithClockSkew > 0)
        #expect(summary.seedsWithEquivocation > 0 && summary.evidenceReported > 0)
    }

    @Test func aSeedsScenarioIsFixedAndCrashesOnlyAnHonestValidator() {
        var crashes = 0
        for seed in UInt64(0)..<200 {
            let variant = SimulationSwarm.variant(forSeed: seed)
            let scenario = SimulationScenario(seed: seed, variant: variant)
            #expect(scenario.description == SimulationScenario(seed: seed, variant: variant).description)
            if let crash = scenario.crash {
                crashes += 1
                #expect(crash.node != scenario.byzantine)
                #expect(crash.startMilliseconds < crash.endMilliseconds && crash.endMilliseconds <= scenario.chaosEndMilliseconds)
            }
            for rate in scenario.clockRatesPermille {
                #expect(SimulationScenario.clockRatePermilleRange.contains(rate) || rate == 1_000)
            }
            let plain = SimulationScenario(seed: seed, variant: variant, extendedFaults: false)
            #expect(plain.crash == nil && plain.clockRatesPermille.allSatisfy { $0 == 1_000 })
        }
        #expect(crashes > 0)
    }

    /// Seed 811 of the swarm: validator 3 (power 4 of 10, needed by every quorum) crashes right
    /// after signing its prevote, which a partition swallowed. It must send the identical vote
    /// again on resume, or height 6 never ends (the swarm found this).
    /// Seed 3061: the same, after it had signed both its prevote and its precommit; both must go again.
    @Test(arguments: [UInt64(811), 3061])
    func aValidatorEveryQuorumNeedsResendsItsLastVotesAfterACrash(seed: UInt64) {
        let variant = SimulationSwarm.variant(forSeed: seed)
        #expect(variant.name == SimulationVariant.weightedHonest.name)
        let report = Simulation(seed: seed, variant: variant).run()
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.restarts == 1)
    }

    @Test func aSeedWithACrashReproducesExactly() {
        let seed = (UInt64(0)..<200).first { SimulationScenario(seed: $0, variant: .equalHonest).crash != nil }!
        let first = Simulation(seed: seed, variant: .equalHonest).run()
        let second = Simulation(seed: seed, variant: .equalHonest).run()
        #expect(first.failures.isEmpty, "\(first.failures)")
        #expect(first.restarts == 1)
        #expect(first.digest == second.digest && first.events == second.events)
    }
}
