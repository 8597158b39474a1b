import ArgumentParser
import Foundation
import SocaiNode
import SocaiState
import SocaiStore

/// Where queries read ledger state: a node's home directory on this machine.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("node-home"), help: ArgumentHelp("A node's home directory to read state from.", valueName: "dir"))
    var nodeHome = "Nodes/node1"

    /// Opens the node's store; returns queries and the time of its last block (for statuses).
    func open() throws -> (LedgerQueries, UInt64) {
        let home = try NodeHome(path: expandPath(nodeHome))
        guard FileManager.default.fileExists(atPath: home.blockStorePath) else {
            throw CommandFailure("\(home.path) has no stored chain yet (\(home.blockStorePath) does not exist)")
        }
        let store = try BlockStore(existingAt: home.blockStorePath)
        guard store.state.height != nil else { throw CommandFailure("\(home.blockStorePath) holds no ledger state yet") }
        let time = try store.block(at: store.height)?.block.header.timeMilliseconds ?? 0
        return (LedgerQueries(backend: store.state), time)
    }
}
