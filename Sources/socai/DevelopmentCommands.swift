import ArgumentParser
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiState
import SocaiStore

/// `socai dev …`: tools for Socai's own tests and benchmarks (hidden from help).
struct DevelopmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Tools for Socai's own tests.",
        shouldDisplay: false,
        subcommands: [AppendBlocks.self, Commit.self])

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
                let signer = try SigningKey(seed: SHA256.hash(Array("crash signer".utf8)))
                func transactions(chainID: ChainID, height: UInt64) throws -> [TransactionEnvelope] {
                    // Arbitrary signed envelopes: with ledger state they execute as rejected
                    // transactions (bad nonce), which is enough to fill blocks.
                    try (0..<transactionsPerBlock).map { index in
                        try TransactionEnvelope.signed(
                            chainID: chainID, key: signer, nonce: height * 1_000 + UInt64(index), kind: 1,
                            payload: Array("transfer \(height).\(index)".utf8))
                    }
                }
                // Unbuffered: the crash test must see each height the moment it is durable.
                func report(_ height: UInt64) { FileHandle.standardOutput.write(Data("committed \(height)\n".utf8)) }
                if let home {
                    let validator = try DevelopmentValidator(home: try NodeHome(path: expandPath(home)))
                    for _ in 0..<count {
                        let (block, _) = try validator.commit(
                            try transactions(chainID: validator.genesis.chainID, height: validator.store.height + 1))
                        report(block.header.height)
                    }
                    return
                }
                let chainID = try ChainID(Self.chainID)
                let genesisHash = Hash.sha256(Array(Self.genesisLabel.utf8))
                let blockStore = try BlockStore(path: expandPath(store!), chainID: chainID, genesisHash: genesisHash)
                var chain = try DevelopmentChain(chainID: chainID, genesisHash: genesisHash, validatorKeys: Self.validatorKeys())
                if let tip = try blockStore.block(at: blockStore.height) { chain.resume(after: tip.block, commit: tip.commit) }
                for _ in 0..<count {
                    let (block, commit) = chain.nextBlock(
                        transactions: try transactions(chainID: chainID, height: chain.height + 1),
                        timeMilliseconds: 1_700_000_000_000 + chain.height * 1000)
                    try blockStore.append(block, commit: commit)
                    report(block.header.height)
                }
            }
        }
    }

    /// Executes signed transactions into a node home's chain as one block.
    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit signed transactions (hex, as `--json` prints them) to a one-validator node home as one block.",
            discussion: "A stand-in for the validator network: the node's key must hold more than 2/3 of the genesis power.")

        @Option(help: ArgumentHelp("The node's home directory.", valueName: "dir")) var home: String
        @Argument(help: ArgumentHelp("Signed transactions, hex.", valueName: "transaction")) var transactions: [String]
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            var height: UInt64
            var stateRoot: String
            var outcomes: [Outcome]
        }

        struct Outcome: Encodable {
            var hash: String
            var code: String
            var message: String
        }

        func run() throws {
            try failing {
                let envelopes = try transactions.enumerated().map { index, text in
                    let bytes: [UInt8]
                    do { bytes = try Hex.decode(text) } catch { throw CommandFailure("transaction \(index + 1): \(error)") }
                    do { return try TransactionEnvelope(canonicalBytes: bytes) } catch {
                        throw CommandFailure("transaction \(index + 1) does not decode: \(error)")
                    }
                }
                let validator = try DevelopmentValidator(home: try NodeHome(path: expandPath(home)))
                let (block, execution) = try validator.commit(envelopes)
                let output = Output(
                    height: block.header.height, stateRoot: execution.stateRoot.hex,
                    outcomes: execution.outcomes.map {
                        Outcome(hash: $0.transactionHash.hex, code: $0.code.name, message: $0.message)
                    })
                if json { try printJSON(output); return }
                print("committed block \(output.height), state root \(output.stateRoot)")
                for outcome in output.outcomes { print("  \(outcome.hash)  \(outcome.code): \(outcome.message)") }
            }
        }
    }
}
