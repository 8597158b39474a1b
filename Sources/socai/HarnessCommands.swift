import ArgumentParser
import Foundation
import SocaiHarness

/// `socai harness …`: the multi-node test harness.
struct HarnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harness",
        abstract: "Run real validator processes on loopback under a scripted workload and faults.",
        subcommands: [Run.self])

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a manifest and check the network's invariants.",
            discussion: """
                MANIFEST is a file or the name of a shipped manifest in Nodes/manifests (smoke, crash, \
                partition, byzantine, catchup, validator-change). The run generates a fresh network in \
                RUNS/<manifest>-<seed>, prints the seed's plan, runs the workload and faults, stops every \
                node, and checks: identical block hashes and state roots, acknowledged transactions \
                committed exactly once, liveness after every heal, evidence for every equivocation, and \
                an audit of every store. Exits with status 1 on any violation and keeps the logs and \
                data directories; the same --seed reruns the same plan. Format: docs/HARNESS.md.
                """)

        @Argument(help: ArgumentHelp("A manifest file, or a shipped manifest's name.", valueName: "manifest")) var manifest:
            String
        @Option(help: "The seed of the fault schedule and workload.") var seed: UInt64 = 1
        @Option(help: ArgumentHelp("The socai executable to start nodes with (default: this one).", valueName: "file"))
        var binary: String?
        @Option(help: ArgumentHelp("Directory for run directories.", valueName: "dir")) var runs = ".socai/harness"
        @Option(help: ArgumentHelp("Directory of the shipped manifests.", valueName: "dir")) var manifests = "Nodes/manifests"
        @Flag(help: "Keep the run directory even when the run passes.") var keep = false
        @Flag(help: "Print the report as JSON.") var json = false

        func manifestPath() -> String {
            let given = expandPath(manifest)
            if FileManager.default.fileExists(atPath: given) { return given }
            return "\(expandPath(manifests))/\(manifest).json"
        }

        func run() throws {
            let report: HarnessReport = try failing {
                let loaded = try HarnessManifest.load(path: manifestPath())
                let executable = binary.map(expandPath) ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
                var configuration = HarnessRunConfiguration(
                    manifest: loaded, seed: seed, binaryPath: executable, runsDirectory: expandPath(runs)
                ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
                configuration.keepOnSuccess = keep
                return try HarnessRunner(configuration: configuration).run()
            }
            if json { try printJSON(report) } else { print(report.text) }
            if !report.passed {
                FileHandle.standardError.write(
                    Data("harness: FAILED; logs and data directories in \(report.runDirectory)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
