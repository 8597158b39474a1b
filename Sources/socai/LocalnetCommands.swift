import ArgumentParser
import Foundation
import SocaiCore
import SocaiNode
import SocaiStore

/// `socai localnet …`: the local validator network described by `Genesis/` and `Nodes/`.
struct LocalnetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "localnet",
        abstract: "Inspect the local validator network.",
        subcommands: [Status.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the genesis file and every node's configuration, key and stored chain.")

        @Option(help: ArgumentHelp("The genesis file.", valueName: "file")) var genesis = "Genesis/localnet.json"
        @Option(help: ArgumentHelp("Directory holding node1 … nodeN.", valueName: "dir")) var nodes = "Nodes"

        func run() throws {
            try failing {
                let genesis = try NodeHome.loadGenesis(at: expandPath(genesis))
                print("chain \(genesis.chainID)  genesis \(genesis.hash)")
                print("validators hash \(genesis.validatorSet.hash)  total power \(genesis.validatorSet.totalPower)")
                let directory = expandPath(nodes)
                let names = try FileManager.default.contentsOfDirectory(atPath: directory)
                    .filter { FileManager.default.fileExists(atPath: "\(directory)/\($0)/\(NodeConfiguration.fileName)") }
                    .sorted { $0.localizedStandardCompare($1) == .orderedAscending }
                guard !names.isEmpty else { throw CommandFailure("no node configurations under \(directory)") }
                var problems = 0
                for name in names {
                    let home = try NodeHome(path: "\(directory)/\(name)")
                    let configured = try home.loadGenesis()
                    guard configured.hash == genesis.hash else {
                        throw CommandFailure("\(home.path) uses genesis \(configured.hash), not \(genesis.hash)")
                    }
                    let key = try home.loadNodeKey()
                    let isValidator = genesis.validatorSet.validator(for: PublicKey(of: key)) != nil
                    var chainState = "no blocks yet (store not created)"
                    if FileManager.default.fileExists(atPath: home.blockStorePath) {
                        let store = try BlockStore(existingAt: home.blockStorePath)
                        chainState = "height \(store.height), tip \(store.tipHash)"
                        // A store of an earlier genesis (one regenerated, or moved to a new
                        // format version) would stop the node at start; say so here, once.
                        guard store.genesisHash == genesis.hash else {
                            throw CommandFailure(
                                "\(home.blockStorePath) holds the chain of genesis \(store.genesisHash), not \(genesis.hash); `make localnet-reset` wipes the local network's chain data"
                            )
                        }
                    }
                    if !isValidator { problems += 1 }
                    print(
                        "\(home.configuration.moniker): peer \(home.configuration.peerListenAddress)  api http://\(home.configuration.apiListenAddress)  \(isValidator ? "validator" : "NOT A GENESIS VALIDATOR")  \(chainState)"
                    )
                }
                if problems > 0 { throw CommandFailure("\(problems) node key(s) are not genesis validators") }
            }
        }
    }
}
