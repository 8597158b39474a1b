import ArgumentParser
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import SocaiAPI
import SocaiCore
import SocaiNode

/// `socai node …`: run a validator.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a validator node.",
        subcommands: [Start.self, Info.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a node home's moniker, chain, node key and addresses; starts nothing.",
            discussion: """
                With --field, prints that one value alone, for scripts: `socai node info --home \
                Nodes/node1 --field api` prints the API's host:port.
                """)

        /// One value of a node home.
        enum Field: String, ExpressibleByArgument, CaseIterable {
            case moniker, chain, key, peer, api
        }

        @Option(help: ArgumentHelp("The node's home directory (config.json, key, data).", valueName: "dir")) var home: String
        @Option(help: ArgumentHelp("Print only this value: moniker, chain, key, peer or api.", valueName: "name"))
        var field: Field?

        func run() throws {
            try failing {
                let nodeHome = try NodeHome(path: expandPath(home))
                let configuration = nodeHome.configuration
                // The key file is read only when its public half is asked for: the other
                // values are configuration, and a script reading them needs no key access.
                func value(_ field: Field) throws -> String {
                    switch field {
                    case .moniker: return configuration.moniker
                    case .chain: return configuration.chainID
                    case .key: return PublicKey(of: try nodeHome.loadNodeKey()).hex
                    case .peer: return configuration.peerListenAddress
                    case .api: return configuration.apiListenAddress
                    }
                }
                if let field {
                    print(try value(field))
                } else {
                    for field in Field.allCases { print("\(field.rawValue): \(try value(field))") }
                }
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the validator in a node home: consensus with its peers, the mempool, block sync and the HTTP API.",
            discussion: "Stops cleanly on SIGINT or SIGTERM. Logs go to standard error.")

        @Option(help: ArgumentHelp("The node's home directory (config.json, key, data).", valueName: "dir")) var home: String

        /// Longest wait for the node to stop after the API has shut down.
        static let stopWaitMilliseconds: UInt64 = 3_000

        func run() async throws {
            let nodeHome: NodeHome
            let node: ValidatorNode
            do {
                nodeHome = try NodeHome(path: expandPath(home))
                // Before anything makes the event-loop group, which the peer network and the
                // API share: its size is fixed when it is first used.
                NIOSingletons.groupLoopCountSuggestion = nodeHome.configuration.eventLoopThreadCount
                if !MemoryAllocator.keepFreedMemory() {
                    FileHandle.standardError.write(
                        Data("the C allocator refused its thresholds; freed memory may go back to the system\n".utf8))
                }
                let moniker = nodeHome.configuration.moniker
                node = try ValidatorNode(home: nodeHome) { line in
                    let stamp = logTimestamp(secondsSince1970: Int(Date().timeIntervalSince1970))
                    FileHandle.standardError.write(Data("\(stamp) \(moniker) \(line)\n".utf8))
                }
                try await node.start()
            } catch {
                throw CommandFailure(error)
            }
            guard let address = HostPort(nodeHome.configuration.apiListenAddress) else {
                throw CommandFailure("apiListenAddress is not host:port")
            }
            let application = Application(
                router: SocaiAPI.router(node: node),
                configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port)))
            FileHandle.standardError.write(Data("API listening on http://\(address)\n".utf8))
            // runService installs SIGINT/SIGTERM handlers and returns after a graceful shutdown.
            try await application.runService()
            FileHandle.standardError.write(Data("stopping\n".utf8))
            // Stop the node, but never hang on the way out: the store is consistent at every
            // committed height, so exiting after a bounded wait loses nothing.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await node.stop() }
                group.addTask { try? await Task.sleep(nanoseconds: Self.stopWaitMilliseconds * 1_000_000) }
                await group.next()
                group.cancelAll()
            }
            FileHandle.standardError.write(Data("stopped\n".utf8))
            Foundation.exit(0)
        }
    }
}
