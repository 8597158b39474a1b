import ArgumentParser
import Foundation
import SocaiCore
import SocaiCrypto
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

        @Option(help: ArgumentHelp("The SQLite file.", valueName: "file")) var store: String
        @Option(help: "How many blocks to append (at most 1,000,000).") var count = 1_000
        @Option(name: .customLong("transactions-per-block"), help: "Transactions in each block (at most 1,000).") var transactionsPerBlock = 3

        func validate() throws {
            guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1 to 1,000,000") }
            guard (0...1_000).contains(transactionsPerBlock) else { throw ValidationError("--transactions-per-block must be 0 to 1,000") }
        }

        /// The fixed validators of the crash-test chain.
        static func validatorKeys() -> [SigningKey] {
            (1...4).map { index in try! SigningKey(seed: SHA256.hash(Array("crash validator \(index)".utf8))) }
        }

        func run() throws {
            try failing {
                let chainID = try ChainID(Self.chainID)
                let genesisHash = Hash.sha256(Array(Self.genesisLabel.utf8))
                let blockStore = try BlockStore(path: expandPath(store), chainID: chainID, genesisHash: genesisHash)
                var chain = try DevelopmentChain(chainID: chainID, genesisHash: genesisHash, validatorKeys: Self.validatorKeys())
                let signer = try SigningKey(seed: SHA256.hash(Array("crash signer".utf8)))
                // Rebuild the development chain up to the stored tip, so appends continue it.
                var nonce: UInt64 = 0
                func nextBlock() throws -> (block: Block, commit: CommitCertificate) {
                    let transactions = try (0..<transactionsPerBlock).map { _ in
                        nonce += 1
                        return try TransactionEnvelope.signed(chainID: chainID, key: signer, nonce: nonce, kind: 1, payload: Array("transfer \(nonce)".utf8))
                    }
                    return chain.nextBlock(transactions: transactions, timeMilliseconds: 1_700_000_000_000 + chain.height * 1000)
                }
                while chain.height < blockStore.height { _ = try nextBlock() }
                guard chain.tipHash == blockStore.tipHash else {
                    throw CommandFailure("the store's tip does not continue the development chain")
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
