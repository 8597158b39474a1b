import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiStore
import Synchronization

/// `make bench`: the rates every later piece of Socai is compared against, measured in one
/// run on this machine — Ed25519 sign and verify (one thread and all cores), SHA-256,
/// transaction encode and decode, and durable block-store appends.
///
/// `SOCAI_BENCH_ONLY` runs one part after those rates: `network` (four validators), `audit`
/// (the auditor's replay) or `did` (the resolver, alone); `ledger` runs the state machine
/// alone and `store` a validator's execute-and-store path alone, as profiling aids.
@main
struct SocaiBenchmarks {
    /// Each measurement runs at least this long, so short timer noise does not dominate.
    static let measurementSecondsMin = 1.0

    static func main() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("Socai benchmarks — \(cores) cores, \(ProcessInfo.processInfo.operatingSystemVersionString)")
        print("Each figure is the best of 3 runs of at least \(measurementSecondsMin) s.\n")
        print(pad("measurement", 44) + pad("rate", 20) + "unit")

        let only = ProcessInfo.processInfo.environment["SOCAI_BENCH_ONLY"]
        if only == "ledger" {
            // Profiling aid: the state machine alone.
            try LedgerBenchmarks.run()
            return
        }
        if only == "did" { return try DIDBenchmarks.run() }
        if only == "store" { return try StoreBenchmarks.run() }
        let key = try SigningKey(seed: SHA256.hash(Array("bench".utf8)))
        let message = [UInt8](repeating: 0x5a, count: 200)  // about one signed transaction body
        let signature = key.signature(for: message)

        report("Ed25519 sign, 1 thread (200-byte message)", rate(threads: 1) { _ = key.signature(for: message) }, "signatures/s")
        report("Ed25519 sign, \(cores) threads", rate(threads: cores) { _ = key.signature(for: message) }, "signatures/s")
        let verifyOne = rate(threads: 1) {
            precondition(Ed25519.isValidSignature(signature, of: message, publicKey: key.publicKey))
        }
        report("Ed25519 verify, 1 thread", verifyOne, "verifications/s")
        report(
            "Ed25519 verify, \(cores) threads, one signature",
            rate(threads: cores) { precondition(Ed25519.isValidSignature(signature, of: message, publicKey: key.publicKey)) },
            "verifications/s")
        // The yardstick for the replay and the network: distinct keys, messages and signatures,
        // as a chain's transactions are. Verifying one signature over and over lets the
        // processor learn its data-dependent branches and keep all of it in its caches; on
        // this 2-core machine that ran about 4.5% faster (median of 40 alternating pairs).
        let distinct = DistinctSignatures(count: DistinctSignatures.countDefault)
        let measureVerifyAll = { rate(threads: cores) { distinct.verifyNext() } }
        let verifyAll = measureVerifyAll()
        report("Ed25519 verify, \(cores) threads, distinct signatures", verifyAll, "verifications/s")

        let small = [UInt8](repeating: 1, count: 256)
        report("SHA-256, 256-byte inputs", rate(threads: 1) { _ = SHA256.hash(small) }, "hashes/s")
        let large = [UInt8](repeating: 2, count: 1 << 20)
        let megabytes = rate(threads: 1) { _ = SHA256.hash(large) }
        report("SHA-256, 1 MiB inputs", megabytes, "MiB/s")

        let chainID = try ChainID("socai-bench")
        let transaction = try TransactionEnvelope.signed(
            chainID: chainID, key: key, nonce: 42, kind: 3, payload: [UInt8](repeating: 7, count: 160))
        let encoded = transaction.canonicalBytes
        report(
            "transaction encode (\(encoded.count) bytes)", rate(threads: 1) { _ = transaction.canonicalBytes }, "transactions/s")
        report("transaction decode", rate(threads: 1) { _ = try! TransactionEnvelope(canonicalBytes: encoded) }, "transactions/s")
        report(
            "transaction decode + verify, \(cores) threads",
            rate(threads: cores) {
                precondition(try! TransactionEnvelope(canonicalBytes: encoded).hasValidSignature)
            }, "transactions/s")

        for transactionsPerBlock in [1, 100] {
            let (blocks, seconds) = try storeAppends(transactionsPerBlock: transactionsPerBlock, chainID: chainID, signer: key)
            report("block store append, \(transactionsPerBlock) tx/block (fsync)", Double(blocks) / seconds, "blocks/s")
        }
        if only == "audit" {
            // The auditor's replay alone, next to the verify rate just measured.
            return try AuditBenchmarks.run(verifyRateAllCores: verifyAll, measureVerifyRate: measureVerifyAll)
        }
        if only != "network" {
            try StateTreeBenchmarks.run()
            try LedgerBenchmarks.run()
            try StoreBenchmarks.run()
            try DIDBenchmarks.run()
            try AuditBenchmarks.run(verifyRateAllCores: verifyAll, measureVerifyRate: measureVerifyAll)
        }
        try NetworkBenchmarks.run(verifyRateAllCores: verifyAll)
        print("\nThe verify rate on all cores is the ceiling for committed transactions per second")
        print("when every validator checks every transaction once.")
    }

    /// Calls `body` repeatedly on `threads` threads; returns calls per second (best of 3).
    static func rate(threads: Int, _ body: @escaping @Sendable () -> Void) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            var batch = 64
            while true {
                let start = DispatchTime.now().uptimeNanoseconds
                let calls = batch
                DispatchQueue.concurrentPerform(iterations: threads) { _ in
                    for _ in 0..<calls { body() }
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if seconds >= measurementSecondsMin {
                    best = max(best, Double(batch * threads) / seconds)
                    break
                }
                batch = seconds < 0.01 ? batch * 10 : Int(Double(batch) * measurementSecondsMin / seconds * 1.1) + 1
            }
        }
        return best
    }

    /// Blocks appended per measurement: built and signed first, so only the durable append is timed.
    static let storeBlocksPerMeasurement = 300

    /// Appends prepared development blocks to a fresh store; returns (blocks, seconds).
    static func storeAppends(transactionsPerBlock: Int, chainID: ChainID, signer: SigningKey) throws -> (Int, Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let genesisHash = Hash.sha256(Array("bench genesis".utf8))
        let validators = (1...4).map { index in try! SigningKey(seed: SHA256.hash([UInt8(index)])) }
        let store = try BlockStore(
            path: directory.appendingPathComponent("chain.sqlite").path, chainID: chainID, genesisHash: genesisHash)
        var chain = try DevelopmentChain(chainID: chainID, genesisHash: genesisHash, validatorKeys: validators)
        var nonce: UInt64 = 0
        var prepared: [(Block, CommitCertificate)] = []
        for _ in 0..<storeBlocksPerMeasurement {
            let transactions = try (0..<transactionsPerBlock).map { _ in
                nonce += 1
                return try TransactionEnvelope.signed(
                    chainID: chainID, key: signer, nonce: nonce, kind: 1, payload: [UInt8](repeating: 3, count: 120))
            }
            prepared.append(chain.nextBlock(transactions: transactions, timeMilliseconds: nonce))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        for (block, commit) in prepared { try store.append(block, commit: commit) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (prepared.count, seconds)
    }

    static func report(_ name: String, _ value: Double, _ unit: String) {
        print(pad(name, 44) + pad(format(value), 20) + unit)
        // Flushed at once: the run is long, and its output is often a file or a pipe.
        fflush(nil)
    }

    static func format(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        var digits = String(rounded)
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: digits.index(digits.startIndex, offsetBy: index))
            index -= 3
        }
        return digits
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

/// Signatures by distinct keys over distinct 200-byte messages, verified in turn from any
/// number of threads: the verify rate a chain of distinct transactions can expect.
final class DistinctSignatures: Sendable {
    /// Signatures held by default: more than the caches hold of keys and messages.
    static let countDefault = 4_096

    private let entries: [(publicKey: [UInt8], message: [UInt8], signature: [UInt8])]
    private let next = Atomic<Int>(0)

    init(count: Int) {
        precondition(count >= 1)
        entries = (0..<count).map { index in
            let key = try! SigningKey(seed: SHA256.hash(Array("bench distinct \(index)".utf8)))
            let message = SHA256.hash(Array("message \(index)".utf8)) + [UInt8](repeating: UInt8(index & 0xff), count: 168)
            return (key.publicKey, message, key.signature(for: message))
        }
    }

    /// Verifies the next signature in turn; each must hold.
    func verifyNext() {
        let entry = entries[next.wrappingAdd(1, ordering: .relaxed).oldValue % entries.count]
        precondition(Ed25519.isValidSignature(entry.signature, of: entry.message, publicKey: entry.publicKey))
    }
}
