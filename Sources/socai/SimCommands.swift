import ArgumentParser
import Foundation
import SocaiHarness

/// `socai sim`: the deterministic in-process consensus simulation, run as a swarm of seeds.
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the seeded consensus simulation over a range of seeds.",
        discussion: """
            Each seed simulates real consensus machines on a simulated network and clock, with its own \
            fault mix: drops, delays, duplicates, a partition, a crash-restart, clock skew and, for \
            some validator sets, one equivocating validator. Prints a summary and the first failing \
            seed; `--seeds N-N` reruns that seed alone. Exits with status 1 if any seed fails.
            """)

    @Option(help: ArgumentHelp("Seeds to run, A-B (inclusive) or one seed N.", valueName: "range")) var seeds = "1-1000"
    @Flag(help: "Print JSON.") var json = false

    /// Parses `A-B` or `N`.
    static func parseSeeds(_ text: String) throws -> ClosedRange<UInt64> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let first = UInt64(parts[0]), let last = UInt64(parts.last!), first <= last else {
            throw ValidationError("--seeds \"\(text)\" must be A-B with A ≤ B, or one seed N")
        }
        guard last - first < SimulationSwarm.seedsMax else {
            throw ValidationError("--seeds covers at most \(SimulationSwarm.seedsMax) seeds")
        }
        return first...last
    }

    func validate() throws { _ = try Self.parseSeeds(seeds) }

    struct Output: Encodable {
        var summary: SimulationSwarm.Summary
        var seconds: Double
        var rerun: String?
    }

    func run() throws {
        let range = try Self.parseSeeds(seeds)
        let started = Date()
        let total = UInt64(range.count)
        let summary = SimulationSwarm.run(seeds: range) { seed, _ in
            let done = seed - range.lowerBound + 1
            if !json, total >= 100, done % (total / 10) == 0 {
                FileHandle.standardError.write(Data("sim: \(done)/\(total) seeds\n".utf8))
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let rerun = summary.firstFailure.map { "socai sim --seeds \($0.seed)-\($0.seed)" }
        if json {
            try printJSON(Output(summary: summary, seconds: seconds, rerun: rerun))
        } else {
            print(
                "\(summary.seedsRun) seeds (\(summary.firstSeed)-\(summary.lastSeed)) in \(String(format: "%.1f", seconds)) s: "
                    + "\(summary.passed ? "all passed" : "\(summary.seedsFailed) FAILED")")
            print(
                "  \(summary.heightsCommitted) heights committed, \(summary.events) events, "
                    + "\(summary.seedsWithLaterRounds) seeds decided beyond round 0")
            print(
                "  faults: \(summary.seedsWithEquivocation) seeds with an equivocating validator "
                    + "(\(summary.evidenceReported) evidence reports), \(summary.restarts) crash-restarts, "
                    + "\(summary.seedsWithClockSkew) seeds with clock skew")
            if let failure = summary.firstFailure, let rerun {
                print("first failing seed \(failure.seed) [\(failure.variant)] (\(failure.scenario)):")
                for line in failure.failures { print("  \(line)") }
                print("rerun alone: \(rerun)")
            }
        }
        if !summary.passed { throw ExitCode(1) }
    }
}
