import ArgumentParser
import SocaiCore
import SocaiNode
import SocaiStore

/// `socai chain …`: inspect a node's stored chain.
struct ChainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Inspect and verify a node's stored chain.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the stored chain and check every hash link, Merkle root and commit certificate.",
            discussion: "Reports the first bad height and exits with status 1 if any check fails.")

        @Option(help: ArgumentHelp("The node's home directory.", valueName: "dir")) var home: String
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            var chainID: String
            var tipHeight: UInt64
            var verifiedHeight: UInt64
            var firstBadHeight: UInt64?
            var problem: String?
            var valid: Bool
        }

        func run() throws {
            let report: ChainVerificationReport
            let chainID: String
            (report, chainID) = try failing {
                let nodeHome = try NodeHome(path: expandPath(home))
                let genesis = try nodeHome.loadGenesis()
                let store = try BlockStore(existingAt: nodeHome.blockStorePath)
                guard store.genesisHash == genesis.hash else {
                    throw CommandFailure(
                        "\(nodeHome.blockStorePath) was created for genesis \(store.genesisHash), not \(genesis.hash)")
                }
                // Until governance can change validators, the genesis set is in force at every height.
                return (store.verifyChain { _ in genesis.validatorSet }, genesis.chainID.value)
            }
            if json {
                try printJSON(
                    Output(
                        chainID: chainID, tipHeight: report.tipHeight, verifiedHeight: report.verifiedHeight,
                        firstBadHeight: report.firstBadHeight, problem: report.problem, valid: report.isValid))
            } else if let bad = report.firstBadHeight {
                print("FAILED at height \(bad): \(report.problem ?? "unknown problem")")
                print("blocks 1 to \(report.verifiedHeight) verified; the tip is at \(report.tipHeight)")
            } else {
                print(
                    "OK: \(report.tipHeight) blocks of chain \(chainID) verified (hash links, Merkle roots, commit certificates)")
            }
            if !report.isValid { throw ExitCode(1) }
        }
    }
}
