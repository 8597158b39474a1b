import ArgumentParser
import Foundation
import SocaiAudit
import SocaiCore
import SocaiNode
import SocaiState

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `socai audit …`: check a chain from the genesis file alone.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Replay a chain from the genesis file alone and audit consents.",
        discussion: "The chain comes from an export file (`socai chain export`) or a node's home directory.",
        subcommands: [Replay.self, Consent.self, Violations.self, SampleChainCommand.self, VerifyRate.self])

    /// `--genesis FILE (--chain FILE | --home DIR)`.
    struct ChainOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The genesis file you trust.", valueName: "file")) var genesis: String
        @Option(help: ArgumentHelp("A chain export file.", valueName: "file")) var chain: String?
        @Option(help: ArgumentHelp("A node's home directory (its stored chain and records).", valueName: "dir"))
        var home: String?

        func validate() throws {
            guard (chain == nil) != (home == nil) else { throw ValidationError("give exactly one of --chain or --home") }
        }

        func loadGenesis() throws -> Genesis { try NodeHome.loadGenesis(at: expandPath(genesis)) }

        func openSource() throws -> any BlockSource {
            if let chain { return try ExportBlockSource(path: expandPath(chain)) }
            let nodeHome = try NodeHome(path: expandPath(home!))
            return try StoreBlockSource(path: nodeHome.blockStorePath)
        }
    }

    /// Replays `options`' chain, drawing progress on standard error; returns the report.
    static func replay(_ options: ChainOptions, observe: ((ExecutedTransaction) -> Void)? = nil) throws -> ReplayReport {
        let (genesis, source) = try failing { (try options.loadGenesis(), try options.openSource()) }
        let auditor = ReplayAuditor(genesis: genesis)
        auditor.onTransaction = observe
        let progress = ProgressLine()
        auditor.onProgress = { progress.show($0) }
        let report = auditor.replay(source)
        progress.finish()
        return report
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every block, signature, certificate and state root by replaying from genesis.",
            discussion: "Exits with status 1 at the first failure, naming its height (and transaction) in words.")

        @OptionGroup var options: ChainOptions
        @Flag(help: "Print the report as JSON.") var json = false

        func run() throws {
            let report = try AuditCommand.replay(options)
            if json {
                try printJSON(report)
            } else {
                if let failure = report.failure { print("FAILED: \(failure.message)") } else { print("OK: the chain holds") }
                print(
                    "chain                 \(report.chainID) (genesis \(report.genesisHash), format version \(report.formatVersion))"
                )
                print("blocks                \(report.blocks)")
                print("transactions          \(report.transactions)")
                print("signatures checked    \(report.signaturesChecked)")
                print("validator-set changes \(report.validatorSetChanges)")
                print("final height          \(report.finalHeight)")
                print("final state root      \(report.finalStateRoot)")
                print(
                    "elapsed               \(String(format: "%.2f", report.elapsedSeconds)) s, \(Int(report.transactionsPerSecond.rounded())) transactions/s"
                )
                let share = report.processorSeconds > 0 ? 100 * report.signatureCheckSeconds / report.processorSeconds : 0
                print(
                    "processor time        \(String(format: "%.2f", report.processorSeconds)) s, signature checks "
                        + "\(String(format: "%.2f", report.signatureCheckSeconds)) s (\(String(format: "%.0f", share))%)")
            }
            if !report.valid { throw ExitCode(1) }
        }
    }

    struct Consent: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every grant, revocation, access and sale of one citizen, with heights and times.")

        @OptionGroup var options: ChainOptions
        @Option(help: ArgumentHelp("The citizen's DID.", valueName: "did")) var subject: String
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            var subject: String
            var replay: ReplayReport
            var events: [ConsentEvent]
        }

        func run() throws {
            let subjectDID = try failing { try DID(subject) }
            let consentAuditor = ConsentAuditor(subject: subjectDID)
            let report = try AuditCommand.replay(options) { consentAuditor.record($0) }
            if json {
                try printJSON(Output(subject: subjectDID.value, replay: report, events: consentAuditor.events))
            } else {
                if let failure = report.failure {
                    print("REPLAY FAILED: \(failure.message) (events up to block \(report.finalHeight))")
                }
                print("\(consentAuditor.events.count) consent events of \(subjectDID) up to block \(report.finalHeight)")
                for event in consentAuditor.events {
                    let time = Date(timeIntervalSince1970: Double(event.timeMilliseconds) / 1000).ISO8601Format()
                    print(
                        "block \(event.height), transaction \(event.transactionIndex)  \(time)  \(event.kind.rawValue)  consent \(event.consentID)  consumer \(event.consumer)  provider \(event.provider)  purpose \(event.purposeCode)  categories \(event.categories.joined(separator: ","))"
                    )
                }
            }
            if !report.valid { throw ExitCode(1) }
        }
    }

    struct Violations: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check, independently of the state machine, that every access and sale had a covering consent.")

        @OptionGroup var options: ChainOptions
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            var replay: ReplayReport
            var accessesChecked: Int
            var salesChecked: Int
            var violationCount: Int
            var violations: [ConsentViolation]
        }

        func run() throws {
            let consentAuditor = ConsentAuditor()
            let report = try AuditCommand.replay(options) { consentAuditor.record($0) }
            if json {
                try printJSON(
                    Output(
                        replay: report, accessesChecked: consentAuditor.accessesChecked,
                        salesChecked: consentAuditor.salesChecked,
                        violationCount: consentAuditor.violationCount, violations: consentAuditor.violations))
            } else {
                if let failure = report.failure {
                    print("REPLAY FAILED: \(failure.message) (checked up to block \(report.finalHeight))")
                }
                for violation in consentAuditor.violations {
                    print(
                        "VIOLATION block \(violation.height), transaction \(violation.transactionIndex) (\(violation.kind.rawValue)): \(violation.reason)"
                    )
                }
                print(
                    "\(consentAuditor.accessesChecked) accesses and \(consentAuditor.salesChecked) sales checked up to block \(report.finalHeight): \(consentAuditor.violationCount) without a covering consent"
                )
            }
            if !report.valid || consentAuditor.violationCount > 0 { throw ExitCode(1) }
        }
    }

    /// Writes a sample chain of signed transfers (and consents and accesses) for tests and benchmarks.
    struct SampleChainCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sample-chain", abstract: "Write a signed sample chain and its genesis (for tests and benchmarks).",
            shouldDisplay: false)

        @Option(help: ArgumentHelp("The export file to write.", valueName: "file")) var out: String
        @Option(help: ArgumentHelp("Where to write the genesis file.", valueName: "file")) var genesisOut: String
        @Option(help: "Transactions in all (at most 10,000,000).") var transactions = 10_000
        @Option(help: "Transactions per block (1 to 10,000).") var transactionsPerBlock = 500

        func validate() throws {
            guard (1...10_000_000).contains(transactions) else { throw ValidationError("--transactions must be 1 to 10,000,000") }
            guard (1...10_000).contains(transactionsPerBlock) else {
                throw ValidationError("--transactions-per-block must be 1 to 10,000")
            }
        }

        func run() throws {
            try failing {
                let sample = try SampleChain(citizenCount: min(transactionsPerBlock * 2, SampleChain.citizensMax))
                try Data(sample.genesisJSON).write(to: URL(fileURLWithPath: expandPath(genesisOut)))
                let writer = try ChainExportWriter(path: expandPath(out), genesisJSON: sample.genesisJSON)
                try sample.appendTransfers(transactions: transactions, perBlock: transactionsPerBlock) {
                    try writer.append(blockBytes: $0.canonicalBytes, certificateBytes: $1.canonicalBytes)
                }
                try writer.finish()
                print("wrote \(writer.blocksWritten) blocks, final state root \(sample.stateRoot)")
            }
        }
    }
}

extension AuditCommand {
    /// Measures transaction signature checks per second on all cores, the ceiling a replay is
    /// compared with (the benchmark's "Ed25519 verify, all threads" figure, from the command line).
    struct VerifyRate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-rate", abstract: "Measure transaction signature checks per second on all cores.",
            shouldDisplay: false)

        @Option(help: "Signatures each core checks (at most 10,000,000).") var perCore = 20_000

        func validate() throws {
            guard (1...10_000_000).contains(perCore) else { throw ValidationError("--per-core must be 1 to 10,000,000") }
        }

        func run() throws {
            let sample = try failing { try SampleChain(citizenCount: 1) }
            let envelope = try failing { try sample.transfer(from: 0, to: 0) }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            let count = perCore
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: cores) { _ in
                for _ in 0..<count { precondition(envelope.hasValidSignature) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print("\(Int((Double(cores * count) / seconds).rounded())) transaction signatures/s on \(cores) cores")
        }
    }
}

/// A progress bar on standard error at a terminal; plain periodic lines otherwise.
final class ProgressLine {
    /// Seconds between plain lines when standard error is not a terminal.
    static let plainLineSeconds = 5.0
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPlainLineSeconds = 0.0
    private var drawn = false

    func show(_ progress: ReplayProgress) {
        let rate = progress.elapsedSeconds > 0 ? Int(Double(progress.transactions) / progress.elapsedSeconds) : 0
        if isTerminal {
            var bar = ""
            if progress.claimedHeight > 0 {
                let fraction = min(1, Double(progress.height) / Double(progress.claimedHeight))
                let filled = Int(fraction * 30)
                bar =
                    "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled) + "] "
                    + "\(Int(fraction * 100))% "
            }
            FileHandle.standardError.write(
                Data(
                    "\r\(bar)block \(progress.height)/\(progress.claimedHeight)  \(progress.transactions) tx  \(rate) tx/s ".utf8)
            )
            drawn = true
        } else if progress.elapsedSeconds - lastPlainLineSeconds >= Self.plainLineSeconds {
            lastPlainLineSeconds = progress.elapsedSeconds
            FileHandle.standardError.write(
                Data(
                    "replayed block \(progress.height) of \(progress.claimedHeight), \(progress.transactions) transactions, \(rate) tx/s\n"
                        .utf8))
        }
    }

    func finish() { if drawn { FileHandle.standardError.write(Data("\n".utf8)) } }
}
