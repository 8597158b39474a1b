import ArgumentParser
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiStore

/// `socai dev …`: tools for Socai's own tests and benchmarks (hidden from help).
struct DevelopmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Tools for Socai's own tests.",
        shouldDisplay: false,
        subcommands: [AppendBlocks.self])

    /// Appends signed blocks to a store as fast as possible, printing each committed height.
    /// The crash test kills this process at random moments and checks the store reopens intact.
    struct AppendBlocks: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "append-blocks",
            abstract: "Append development blocks to a store, printing each height once it is durable.")

        static let chainID = "socai-crash-test"
        static let genesisLabel = "socai crash test genesis"

        @Option(help: ArgumentHelp("A SQLite file for the fixed crash-test chain.", valueName: "file")) var store: String?
        @Option(help: ArgumentHelp("A node home whose key alone holds > 2/3 of the genesis power.", valueName: "dir"))
        var home: String?
        @Option(help: "How many blocks to append (at most 1,000,000).") var count = 1_000
        @Option(name: .customLong("transactions-per-block"), help: "Transactions in each block (at most 1,000).")
        var transactionsPerBlock = 3

        func validate() throws {
            guard (store == nil) != (home == nil) else { throw ValidationError("give exactly one of --store or --home") }
            guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1 to 1,000,000") }
            guard (0...1_000).contains(transactionsPerBlock) else {
                throw ValidationError("--transactions-per-block must be 0 to 1,000")
            }
        }

        /// The fixed validators of the crash-test chain.
        static func validatorKeys() -> [SigningKey] {
            (1...4).map { index in try! SigningKey(seed: SHA256.hash(Array("crash validator \(index)".utf8))) }
        }

        func run() throws {
            try failing {
                let blockStore: BlockStore
                var chain: DevelopmentChain
                if let home {
                    let nodeHome = try NodeHome(path: expandPath(home))
                    let genesis = try nodeHome.loadGenesis()
                    blockStore = try nodeHome.openBlockStore(genesis: genesis)
                    chain = try DevelopmentChain(
                        chainID: genesis.chainID, genesisHash: genesis.hash, validatorKeys: [try nodeHome.loadNodeKey()],
                        validatorSet: genesis.validatorSet)
                } else {
                    let chainID = try ChainID(Self.chainID)
                    let genesisHash = Hash.sha256(Array(Self.genesisLabel.utf8))
                    blockStore = try BlockStore(path: expandPath(store!), chainID: chainID, genesisHash: genesisHash)
                    chain = try DevelopmentChain(chainID: chainID, genesisHash: genesisHash, validatorKeys: Self.validatorKeys())
                }
                let chainID = chain.chainID
                let signer = try SigningKey(seed: SHA256.hash(Array("crash signer".utf8)))
                if let tip = try blockStore.block(at: blockStore.height) {
                    chain.resume(after: tip.block, commit: tip.commit)
                }
                func nextBlock() throws -> (block: Block, commit: CommitCertificate) {
                    let transactions = try (0..<transactionsPerBlock).map { index in
                        try TransactionEnvelope.signed(
                            chainID: chainID, key: signer, nonce: chain.height * 1_000 + UInt64(index), kind: 1,
                            payload: Array("transfer \(chain.height).\(index)".utf8))
                    }
                    return chain.nextBlock(transactions: transactions, timeMilliseconds: 1_700_000_000_000 + chain.height * 1000)
                }
                for _ in 0..<count {
                    let (block, commit) = try nextBlock()
                    try blockStore.append(block, commit: commit)
                    // Unbuffered: the crash test must see each height the moment it is durable.
                    FileHandle.standardOutput.write(Data("committed \(block.header.height)\n".utf8))
                }
            }
        }
    }
}
