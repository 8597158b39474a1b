import Foundation
import SocaiConsensus
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNode

/// The guard's file of two alternating slots: the newer valid slot wins, a torn write falls
/// back to the record before it, damage that leaves no valid slot stops the node, and a
/// legacy single-record file is taken over.
@Suite struct SignerGuardSlotsTests {
    static func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-slots-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func slotsPath(_ directory: String) -> String { directory + "/" + SignerGuard.fileName }

    static func record(_ signer: SignerGuard, height: UInt64, round: UInt32, _ kind: VoteType) throws {
        let step = SignedStep(round: round, voteType: kind)
        let validator = PublicKey(of: try SigningKey(seed: SHA256.hash(Array("slots".utf8))))
        try signer.record(
            height: height, step: step,
            checkpoint: ConsensusCheckpoint(
                height: height, round: round, lockedRound: nil, lockedBlockID: nil, validRound: nil, validBlockID: nil,
                lastSigned: step),
            vote: Vote(type: kind, height: height, round: round, blockID: nil, validator: validator))
    }

    /// A guard in a new directory that recorded a prevote then a precommit at `height` and
    /// `round` (records 1 and 2, in slots 1 and 0).
    static func guardAfterPrevoteAndPrecommit(height: UInt64, round: UInt32) throws -> (String, SignerGuard) {
        let path = directory()
        do {
            let signer = try SignerGuard(dataDirectory: path)
            try record(signer, height: height, round: round, .prevote)
            try record(signer, height: height, round: round, .precommit)
            return (path, signer)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Overwrites `count` bytes of the slots file at `offset` with `byte`.
    static func overwrite(_ directory: String, offset: Int, count: Int, with byte: UInt8) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: slotsPath(directory)))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(repeating: byte, count: count))
    }

    static func slots(_ directory: String) throws -> [SignerGuard.Record?] {
        let bytes = Array(try #require(FileManager.default.contents(atPath: slotsPath(directory))))
        #expect(bytes.count == 2 * SignerGuard.slotBytes)
        let size = SignerGuard.slotBytes
        return (0..<2).map { SignerGuard.decodeSlot(Array(bytes[($0 * size)..<(($0 + 1) * size)])) }
    }

    @Test func recordsAlternateBetweenTheSlotsAndTheNewerWins() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let signer = try SignerGuard(dataDirectory: path)
        #expect(signer.last == nil)
        #expect(try Self.slots(path) == [nil, nil])
        try Self.record(signer, height: 4, round: 0, .prevote)
        try Self.record(signer, height: 4, round: 0, .precommit)
        try Self.record(signer, height: 5, round: 0, .prevote)
        let slots = try Self.slots(path)
        // Record 3 went to slot 1, record 2 to slot 0.
        #expect(slots[0]?.sequence == 2 && slots[0]?.height == 4 && slots[0]?.step == 3)
        #expect(slots[1]?.sequence == 3 && slots[1]?.height == 5 && slots[1]?.step == 2)
        let reopened = try SignerGuard(dataDirectory: path)
        #expect(reopened.last == signer.last)
        #expect(!reopened.allows(height: 5, step: SignedStep(round: 0, voteType: .prevote)))
        #expect(reopened.allows(height: 5, step: SignedStep(round: 0, voteType: .precommit)))
        // Numbering goes on from the reopened record.
        try Self.record(reopened, height: 5, round: 0, .precommit)
        #expect(try Self.slots(path)[0]?.sequence == 4)
    }

    @Test func aTornLatestSlotFallsBackToTheRecordBeforeIt() throws {
        let (path, _) = try Self.guardAfterPrevoteAndPrecommit(height: 8, round: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Record 2 (the precommit) is in slot 0; tear its second half.
        try Self.overwrite(path, offset: SignerGuard.slotBytes / 2, count: 100, with: 0xA5)
        let reopened = try SignerGuard(dataDirectory: path)
        #expect(reopened.last?.sequence == 1 && reopened.last?.step == 2 && reopened.last?.height == 8)
        // The precommit's signature never left (its record did not reach the disk whole).
        #expect(reopened.allows(height: 8, step: SignedStep(round: 1, voteType: .precommit)))
        #expect(!reopened.allows(height: 8, step: SignedStep(round: 1, voteType: .prevote)))
    }

    @Test func aFileWithNoValidSlotStopsTheNode() throws {
        let (path, _) = try Self.guardAfterPrevoteAndPrecommit(height: 2, round: 0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.overwrite(path, offset: 10, count: 1, with: 0x7B)
        try Self.overwrite(path, offset: SignerGuard.slotBytes + 10, count: 1, with: 0x7B)
        #expect(throws: NodeError.self) { try SignerGuard(dataDirectory: path) }
        // A slot holding a valid record in the other slot's place is damage too.
        let moved = try SignerGuard.encodeSlot(SignerGuard.Record(height: 2, round: 0, step: 2, sequence: 2))
        try Self.overwrite(path, offset: 0, count: SignerGuard.slotBytes, with: 0)
        let handle = try #require(FileHandle(forUpdatingAtPath: Self.slotsPath(path)))
        try handle.seek(toOffset: UInt64(SignerGuard.slotBytes))
        try handle.write(contentsOf: Data(moved))
        try handle.close()
        #expect(throws: NodeError.self) { try SignerGuard(dataDirectory: path) }
    }

    @Test func aShortFileStopsTheNode() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: Self.slotsPath(path), contents: Data(count: 100)))
        #expect(throws: NodeError.self) { try SignerGuard(dataDirectory: path) }
    }

    @Test func aLegacyRecordIsTakenOverOnce() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let legacyPath = path + "/" + SignerGuard.legacyFileName
        let legacy = #"{"height":12,"round":3,"step":3,"votedValue":"nil","prevoteRound":3,"prevoteValue":"nil"}"#
        #expect(FileManager.default.createFile(atPath: legacyPath, contents: Data(legacy.utf8)))
        let signer = try SignerGuard(dataDirectory: path)
        #expect(signer.last?.height == 12 && signer.last?.round == 3 && signer.last?.step == 3)
        #expect(signer.last?.sequence == 1)
        #expect(!FileManager.default.fileExists(atPath: legacyPath))
        #expect(!signer.allows(height: 12, step: SignedStep(round: 3, voteType: .precommit)))
        let reopened = try SignerGuard(dataDirectory: path)
        #expect(reopened.last == signer.last)
        #expect(reopened.lastVotes(validator: PublicKey(of: try SigningKey(seed: SHA256.hash([1])))).count == 2)
    }

    @Test func aLegacyRecordLeftBesideTheSlotsIsRemovedAndTakenOnlyIfAhead() throws {
        let (path, signer) = try Self.guardAfterPrevoteAndPrecommit(height: 20, round: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let legacyPath = path + "/" + SignerGuard.legacyFileName
        // Behind the slots (a crash after the takeover, before the removal): only removed.
        #expect(FileManager.default.createFile(atPath: legacyPath, contents: Data(#"{"height":20,"round":0,"step":3}"#.utf8)))
        let reopened = try SignerGuard(dataDirectory: path)
        #expect(reopened.last == signer.last)
        #expect(!FileManager.default.fileExists(atPath: legacyPath))
        // Ahead of the slots: taken, as the next record.
        #expect(FileManager.default.createFile(atPath: legacyPath, contents: Data(#"{"height":21,"round":0,"step":1}"#.utf8)))
        let advanced = try SignerGuard(dataDirectory: path)
        #expect(advanced.last?.height == 21 && advanced.last?.step == 1 && advanced.last?.sequence == 3)
        #expect(!FileManager.default.fileExists(atPath: legacyPath))
    }

    @Test func anEmptyFileLeftByACutShortCreationStartsAfresh() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: Self.slotsPath(path), contents: Data()))
        let signer = try SignerGuard(dataDirectory: path)
        #expect(signer.last == nil)
        #expect(try Self.slots(path) == [nil, nil])
        try Self.record(signer, height: 1, round: 0, .prevote)
        #expect(try SignerGuard(dataDirectory: path).last?.height == 1)
    }

    @Test func aDamagedLegacyRecordStopsTheNode() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(
            FileManager.default.createFile(atPath: path + "/" + SignerGuard.legacyFileName, contents: Data("{\"hei".utf8)))
        #expect(throws: NodeError.self) { try SignerGuard(dataDirectory: path) }
        // One far larger than any record is refused without being read whole.
        let oversized = Data(repeating: UInt8(ascii: " "), count: SignerGuard.slotBytes + 1)
        #expect(FileManager.default.createFile(atPath: path + "/" + SignerGuard.legacyFileName, contents: oversized))
        #expect(throws: NodeError.self) { try SignerGuard(dataDirectory: path) }
    }
}
