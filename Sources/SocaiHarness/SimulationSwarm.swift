/// Runs many seeds of the consensus simulation: each seed picks its validator set from
/// `SimulationVariant.all` (seed modulo their count) and draws its own faults.
public enum SimulationSwarm {
    /// Most seeds one swarm run may cover.
    public static let seedsMax: UInt64 = 10_000_000

    /// The variant a seed simulates.
    public static func variant(forSeed seed: UInt64) -> SimulationVariant {
        SimulationVariant.all[Int(seed % UInt64(SimulationVariant.all.count))]
    }

    /// One failing seed.
    public struct Failure: Sendable, Codable, Equatable {
        /// The seed.
        public var seed: UInt64
        /// Its validator set.
        public var variant: String
        /// Its faults.
        public var scenario: String
        /// The invariants it broke.
        public var failures: [String]
    }

    /// What a swarm run found.
    public struct Summary: Sendable, Codable, Equatable {
        /// First seed run.
        public var firstSeed: UInt64
        /// Last seed run.
        public var lastSeed: UInt64
        /// Seeds run.
        public var seedsRun: UInt64 = 0
        /// Seeds that broke an invariant.
        public var seedsFailed: UInt64 = 0
        /// The lowest failing seed, with its details.
        public var firstFailure: Failure?
        /// Events processed over all seeds.
        public var events: UInt64 = 0
        /// Heights committed (the highest node of each seed), summed.
        public var heightsCommitted: UInt64 = 0
        /// Seeds that had a Byzantine validator.
        public var seedsWithEquivocation: UInt64 = 0
        /// Evidence reports by honest nodes.
        public var evidenceReported: UInt64 = 0
        /// Crash-restarts carried out.
        public var restarts: UInt64 = 0
        /// Seeds with clock skew.
        public var seedsWithClockSkew: UInt64 = 0
        /// Seeds that committed some height beyond round 0.
        public var seedsWithLaterRounds: UInt64 = 0
        /// Whether every seed passed.
        public var passed: Bool { seedsFailed == 0 }
    }

    /// Runs seeds `seeds`, in order; `progress` is called after each seed (for a progress line).
    public static func run(seeds: ClosedRange<UInt64>, progress: (UInt64, SimulationReport) -> Void = { _, _ in }) -> Summary {
        precondition(UInt64(seeds.count) <= seedsMax, "a swarm covers at most \(seedsMax) seeds")
        var summary = Summary(firstSeed: seeds.lowerBound, lastSeed: seeds.upperBound)
        for seed in seeds {
            let variant = variant(forSeed: seed)
            let simulation = Simulation(seed: seed, variant: variant)
            let report = simulation.run()
            summary.seedsRun += 1
            summary.events += UInt64(report.events)
            summary.heightsCommitted += report.committedHeights.max() ?? 0
            summary.evidenceReported += UInt64(report.evidenceReported)
            summary.restarts += UInt64(report.restarts)
            if simulation.scenario.byzantine != nil { summary.seedsWithEquivocation += 1 }
            if simulation.scenario.clockRatesPermille.contains(where: { $0 != 1_000 }) { summary.seedsWithClockSkew += 1 }
            if report.maxCommitRound > 0 { summary.seedsWithLaterRounds += 1 }
            if !report.failures.isEmpty {
                summary.seedsFailed += 1
                if summary.firstFailure == nil {
                    summary.firstFailure = Failure(
                        seed: seed, variant: variant.name, scenario: simulation.scenario.description,
                        failures: report.failures)
                }
            }
            progress(seed, report)
        }
        return summary
    }
}
