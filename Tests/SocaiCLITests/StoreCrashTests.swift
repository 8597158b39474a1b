import Foundation
import SocaiCore
import SocaiCrypto
import SocaiStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Kills a process that is appending blocks with SIGKILL at random moments, many times, and
/// checks that the store always reopens at a consistent height with every block intact and
/// no block it reported as committed lost.
@Suite struct StoreCrashTests {
    /// Kills per run; SOCAI_CRASH_KILLS raises it for a long run.
    static let kills = Int(ProcessInfo.processInfo.environment["SOCAI_CRASH_KILLS"] ?? "") ?? 30
    /// The schedule's seed; a failure prints it, and SOCAI_CRASH_SEED reruns it.
    static let seed = UInt64(ProcessInfo.processInfo.environment["SOCAI_CRASH_SEED"] ?? "") ?? 20_261_129

    @Test func storeSurvivesSIGKILLAtRandomMoments() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("crash.sqlite")
        var random = SeededGenerator(seed: Self.seed)
        let chainID = try ChainID("socai-crash-test")
        let genesisHash = Hash.sha256(Array("socai crash test genesis".utf8))
        let keys = (1...4).map { index in try! SigningKey(seed: SHA256.hash(Array("crash validator \(index)".utf8))) }
        let validatorSet = try ValidatorSet(keys.map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        var previousHeight: UInt64 = 0
        var killsDuringAppends = 0

        for round in 0..<Self.kills {
            // One kill in five lands anywhere from start-up on (opening, schema creation); the
            // rest wait for the first committed block and then land within the next 40 ms.
            let duringStartup = UInt32.random(in: 0..<5, using: &random) == 0
            let delayMicroseconds =
                duringStartup
                ? UInt32.random(in: 0...60_000, using: &random) : UInt32.random(in: 0...40_000, using: &random)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: socaiBinaryPath())
            process.arguments = ["dev", "append-blocks", "--store", path, "--count", "1000000", "--transactions-per-block", "4"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var printedBytes = Data()
            if !duringStartup {
                while !printedBytes.contains(UInt8(ascii: "\n")) {
                    let chunk = output.fileHandleForReading.availableData
                    if chunk.isEmpty { break }  // the child ended early; the checks below will say why
                    printedBytes.append(chunk)
                }
            }
            usleep(delayMicroseconds)
            kill(process.processIdentifier, SIGKILL)
            printedBytes.append(output.fileHandleForReading.readDataToEndOfFile())
            let printed = String(decoding: printedBytes, as: UTF8.self)
            process.waitUntilExit()
            #expect(
                process.terminationReason == .uncaughtSignal, "round \(round) seed \(Self.seed): the appender exited by itself")

            // The last height the child reported is durable: it was printed after COMMIT returned.
            let reported =
                printed.split(separator: "\n").last.flatMap { UInt64($0.split(separator: " ").last ?? "") } ?? previousHeight
            if reported > previousHeight { killsDuringAppends += 1 }

            let store = try BlockStore(path: path, chainID: chainID, genesisHash: genesisHash)
            #expect(
                store.height >= reported,
                "round \(round) seed \(Self.seed): reported \(reported) committed but the store reopened at \(store.height)")
            #expect(store.height <= reported + 1, "round \(round) seed \(Self.seed): more than one unreported block")
            #expect(
                store.height >= previousHeight,
                "round \(round) seed \(Self.seed): the store went back from \(previousHeight) to \(store.height)")
            let report = store.verifyChain { _ in validatorSet }
            #expect(report.isValid, "round \(round) seed \(Self.seed): \(report.problem ?? "")")
            previousHeight = store.height
        }
        // Most kills must land while blocks are being appended, or the test proves little.
        #expect(killsDuringAppends >= Self.kills * 3 / 5, "only \(killsDuringAppends) of \(Self.kills) kills interrupted appends")
        #expect(previousHeight > 0)
    }
}
