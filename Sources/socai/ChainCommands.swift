import ArgumentParser
import Foundation
import SocaiAudit
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiStore

/// `socai chain …`: inspect a node's stored chain.
struct ChainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Inspect and verify a node's stored chain.",
        subcommands: [Verify.self, Export.self])

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

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a self-contained chain export (docs/FORMAT.md §30) for `socai audit replay`.",
            discussion: "From a node's home directory, or from a running node's HTTP API (then give --genesis).")

        @Option(help: ArgumentHelp("A running node's API, e.g. http://127.0.0.1:26657.", valueName: "url")) var node: String?
        @Option(help: ArgumentHelp("A node's home directory.", valueName: "dir")) var home: String?
        @Option(help: ArgumentHelp("The genesis file to embed (required with --node).", valueName: "file"))
        var genesis: String?
        @Option(help: ArgumentHelp("The export file to write.", valueName: "file")) var out: String

        func validate() throws {
            guard (node == nil) != (home == nil) else { throw ValidationError("give exactly one of --node or --home") }
            guard node == nil || genesis != nil else { throw ValidationError("--node needs --genesis FILE to embed") }
        }

        func run() throws {
            try failing {
                if let home {
                    let nodeHome = try NodeHome(path: expandPath(home))
                    let genesisJSON = try Self.readGenesis(genesis.map(expandPath) ?? nodeHome.genesisPath)
                    let reader = try StoredChainReader(path: nodeHome.blockStorePath)
                    let writer = try ChainExportWriter(path: expandPath(out), genesisJSON: genesisJSON)
                    for height in 1...max(1, reader.tipHeight) where reader.tipHeight > 0 {
                        guard let stored = try reader.storedBytes(at: height) else {
                            throw CommandFailure("block \(height) is missing from \(nodeHome.blockStorePath)")
                        }
                        try writer.append(blockBytes: stored.block, certificateBytes: stored.certificate)
                    }
                    try writer.finish()
                    print("exported \(writer.blocksWritten) blocks to \(out)")
                    return
                }
                let client = try NodeClient(node!)
                let genesisJSON = try Self.readGenesis(expandPath(genesis!))
                let (status, data) = try client.exchange("GET", "/v1/status")
                guard status == 200, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let height = (object["height"] as? NSNumber)?.uint64Value
                else {
                    throw CommandFailure("the node's status is not readable (HTTP \(status))")
                }
                let writer = try ChainExportWriter(path: expandPath(out), genesisJSON: genesisJSON)
                var current: UInt64 = 1
                // One request per block, up to the height the node reported when the export began.
                while current <= height {
                    let (blockStatus, blockData) = try client.exchange("GET", "/v1/blocks/\(current)")
                    guard blockStatus == 200,
                        let view = try JSONSerialization.jsonObject(with: blockData) as? [String: Any],
                        let blockHex = view["block"] as? String, let certificateHex = view["certificate"] as? String
                    else {
                        throw CommandFailure("the node did not return block \(current) (HTTP \(blockStatus))")
                    }
                    try writer.append(blockBytes: try Hex.decode(blockHex), certificateBytes: try Hex.decode(certificateHex))
                    current += 1
                }
                try writer.finish()
                print("exported \(writer.blocksWritten) blocks to \(out)")
            }
        }

        static func readGenesis(_ path: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
            guard data.count <= Limits.genesisFileBytesMax else {
                throw CommandFailure("\(path) is too large to be a genesis file")
            }
            return Array(data)
        }
    }
}
