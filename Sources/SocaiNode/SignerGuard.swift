import Foundation
import SocaiConsensus
import SocaiCore
import SocaiCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Double-sign protection: the last (height, round, step) this validator signed, kept in
/// `<data>/signer_state.slots` and synced to disk before any signature leaves the process.
/// After a restart the node refuses to sign anything at or below it (CometBFT's
/// priv_validator_state).
///
/// The file holds two slots of `slotBytes`, each a JSON record padded with spaces and
/// followed by the SHA-256 of those bytes. Records are numbered, and each goes to the slot
/// its number picks, so the slot written last alternates: a write torn by a crash can damage
/// only the slot being written, and the other still holds the record before it. Falling back
/// to that one is safe, because a record is synced before its signature is made: the step a
/// torn write was recording was never signed. On open the valid slot with the higher number
/// wins.
///
/// Why slots: the guard writes before every proposal, prevote and precommit, three times a
/// height. Writing a temporary file, syncing it, renaming it over the record and syncing the
/// directory, as this did before, cost two file opens, a rename and two `fsync` calls each
/// time: about a tenth of a four-validator network's processor time at 200 transactions a
/// second, when heights are short. Now each record is one `pwrite` into the open file and
/// one `fdatasync`; the file keeps its size, so no metadata needs syncing.
public final class SignerGuard {
    /// The file's name inside the data directory.
    public static let fileName = "signer_state.slots"
    /// The single-record JSON file of earlier versions, read once and replaced by the slots.
    public static let legacyFileName = "signer_state.json"
    /// Bytes of one slot: a disk block of its own, so a torn write of one cannot reach the other.
    static let slotBytes = 4096
    /// Bytes of a slot's checksum (SHA-256), at its end.
    static let slotChecksumBytes = 32

    struct Record: Codable, Equatable {
        var height: UInt64
        var round: UInt32
        /// 1 proposal, 2 prevote, 3 precommit.
        var step: UInt8
        var lockedRound: UInt32?
        var lockedBlockID: String?
        var validRound: UInt32?
        var validBlockID: String?
        /// The value of the vote signed at this step: a block id (hex), or "nil" for a nil
        /// vote; absent for a proposal (and in records written before it existed).
        var votedValue: String?
        /// With a precommit: the round and value of the prevote signed before it at this height.
        var prevoteRound: UInt32?
        var prevoteValue: String?
        /// The record's number: 1 for the first, one more for each after it. Absent only in
        /// the legacy single-record file.
        var sequence: UInt64?
    }

    private let path: String
    /// The slots file, open for the guard's life.
    private let descriptor: Int32
    private(set) var last: Record?

    /// Opens (or starts) the record in `dataDirectory`, taking over a legacy
    /// `signer_state.json` there (see `takeOverLegacyRecord`).
    public init(dataDirectory: String) throws {
        path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw NodeError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        do {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else {
                throw NodeError(.io, "cannot read the size of \(path): \(String(cString: strerror(errno)))")
            }
            // Empty: new, or its creation was cut short before it was sized (nothing was ever
            // recorded in it). Both slots exist, zeroed (no record), before any record is
            // written, and the directory knows the file: later writes change only its data.
            if status.st_size == 0 {
                guard ftruncate(descriptor, off_t(2 * Self.slotBytes)) == 0, fsync(descriptor) == 0 else {
                    throw NodeError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
                }
                Self.syncDirectory(dataDirectory)
            }
            last = try Self.readSlots(descriptor, path: path)
            try takeOverLegacyRecord(in: dataDirectory)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// Moves the record of a legacy `signer_state.json` into the slots, unless the slots hold
    /// one at or past it, then removes the old file. It is removed only after the slots are
    /// synced, so a crash in between finds it again, and the slots then hold it already.
    private func takeOverLegacyRecord(in dataDirectory: String) throws {
        let legacyPath = (dataDirectory as NSString).appendingPathComponent(Self.legacyFileName)
        guard FileManager.default.fileExists(atPath: legacyPath) else { return }
        // A record is under 700 bytes; a file far larger is not one, and is not read whole.
        let size = (try? FileManager.default.attributesOfItem(atPath: legacyPath)[.size] as? Int) ?? nil
        guard let size, size <= Self.slotBytes, let data = FileManager.default.contents(atPath: legacyPath) else {
            throw NodeError(
                .invalid, "\(legacyPath) is not a signer record; refusing to sign without knowing what was signed last")
        }
        let legacy: Record
        do { legacy = try JSONDecoder().decode(Record.self, from: data) } catch {
            throw NodeError(.invalid, "\(legacyPath) is damaged; refusing to sign without knowing what was signed last")
        }
        // Slots at or past it took it over already (a crash came before the removal).
        let slotsAhead = last.map { (legacy.height, legacy.round, legacy.step) <= ($0.height, $0.round, $0.step) } ?? false
        if !slotsAhead { try write(legacy) }
        guard unlink(legacyPath) == 0 else {
            throw NodeError(.io, "cannot remove \(legacyPath): \(String(cString: strerror(errno)))")
        }
        Self.syncDirectory(dataDirectory)
    }

    deinit { close(descriptor) }

    /// The record of the valid slot with the higher number; nil when both slots are zeroed.
    /// Throws if neither slot is valid and one is not zeroed: something other than this
    /// guard's writes changed the file.
    private static func readSlots(_ descriptor: Int32, path: String) throws -> Record? {
        var bytes = [UInt8](repeating: 0, count: 2 * slotBytes)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard read == bytes.count else {
            throw NodeError(.invalid, "\(path) is \(max(read, 0)) bytes, not \(bytes.count); refusing to sign")
        }
        var best: Record?
        var damaged = false
        for slot in 0..<2 {
            let slotContents = bytes[(slot * Self.slotBytes)..<((slot + 1) * Self.slotBytes)]
            if slotContents.allSatisfy({ $0 == 0 }) { continue }
            guard let record = decodeSlot(Array(slotContents)), let sequence = record.sequence,
                sequence % 2 == UInt64(slot)
            else {
                damaged = true
                continue
            }
            if sequence > best?.sequence ?? 0 { best = record }
        }
        if best == nil && damaged {
            throw NodeError(.invalid, "\(path) is damaged; refusing to sign without knowing what was signed last")
        }
        return best
    }

    /// The record in `slot` if its checksum holds and its JSON decodes.
    static func decodeSlot(_ slot: [UInt8]) -> Record? {
        precondition(slot.count == slotBytes)
        let body = Array(slot[..<(slotBytes - slotChecksumBytes)])
        guard SHA256.hash(body) == Array(slot[(slotBytes - slotChecksumBytes)...]) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: Data(body))
    }

    /// A slot holding `record`: its JSON padded with spaces, then the checksum.
    static func encodeSlot(_ record: Record) throws -> [UInt8] {
        var body = Array(try JSONEncoder().encode(record))
        // The largest record (every field at its widest) is under 700 bytes.
        precondition(body.count <= slotBytes - slotChecksumBytes, "a signer record outgrew its slot")
        body += [UInt8](repeating: UInt8(ascii: " "), count: slotBytes - slotChecksumBytes - body.count)
        return body + SHA256.hash(body)
    }

    private static func syncDirectory(_ directory: String) {
        let handle = open(directory, O_RDONLY | O_CLOEXEC)
        if handle >= 0 {
            _ = fsync(handle)
            close(handle)
        }
    }

    /// Numbers `record` after the last one, writes it to its slot and syncs the file's data.
    private func write(_ record: Record) throws {
        var record = record
        let sequence = (last?.sequence ?? 0) + 1
        record.sequence = sequence
        let slot = try Self.encodeSlot(record)
        let offset = off_t(Int(sequence % 2) * Self.slotBytes)
        let written = slot.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, offset) }
        guard written == slot.count, fdatasync(descriptor) == 0 else {
            throw NodeError(.io, "cannot persist \(path): \(String(cString: strerror(errno)))")
        }
        last = record
    }

    /// The consensus checkpoint persisted last, if any.
    public var checkpoint: ConsensusCheckpoint? {
        guard let last, let kind = SignedStep.Kind(rawValue: last.step) else { return nil }
        return ConsensusCheckpoint(
            height: last.height, round: last.round, lockedRound: last.lockedRound,
            lockedBlockID: last.lockedBlockID.flatMap { try? Hash(hex: $0) }, validRound: last.validRound,
            validBlockID: last.validBlockID.flatMap { try? Hash(hex: $0) }, lastSigned: SignedStep(round: last.round, kind: kind))
    }

    /// The last vote recorded, unsigned, for `validator`. Signing it again gives the identical
    /// signature (Ed25519 is deterministic), so re-sending it after a restart is not a second
    /// vote; without it a vote lost in the crash is lost for good, and a validator whose power
    /// every quorum needs would stall its height (CometBFT's signer re-signs identical bytes too).
    public func lastVote(validator: PublicKey) -> Vote? {
        guard let last, let value = last.votedValue, let kind = SignedStep.Kind(rawValue: last.step), kind != .proposal
        else { return nil }
        return Self.vote(kind == .prevote ? .prevote : .precommit, last.height, last.round, value, validator)
    }

    /// The votes to send again after a restart, oldest first: the prevote recorded with a
    /// precommit, then the last vote.
    public func lastVotes(validator: PublicKey) -> [Vote] {
        guard let last else { return [] }
        var votes: [Vote] = []
        if let round = last.prevoteRound, let value = last.prevoteValue,
            let prevote = Self.vote(.prevote, last.height, round, value, validator)
        {
            votes.append(prevote)
        }
        if let vote = lastVote(validator: validator) { votes.append(vote) }
        return votes
    }

    private static func vote(_ type: VoteType, _ height: UInt64, _ round: UInt32, _ value: String, _ validator: PublicKey)
        -> Vote?
    {
        let blockID: Hash?
        if value == "nil" {
            blockID = nil
        } else {
            guard let parsed = try? Hash(hex: value) else { return nil }
            blockID = parsed
        }
        return Vote(type: type, height: height, round: round, blockID: blockID, validator: validator)
    }

    /// Whether signing `step` at `height` would not regress below what was signed before.
    public func allows(height: UInt64, step: SignedStep) -> Bool {
        guard let last else { return true }
        if height != last.height { return height > last.height }
        return (step.round, step.kind.rawValue) > (last.round, last.step)
    }

    /// Records `step` at `height` with the machine's lock state, durably, before signing.
    /// `vote` is the vote about to be signed (nil for a proposal): kept so that after a crash
    /// the identical vote can be signed and sent again (see `lastVote`).
    public func record(height: UInt64, step: SignedStep, checkpoint: ConsensusCheckpoint, vote: Vote? = nil) throws {
        precondition(allows(height: height, step: step), "signing at or below the last signed step")
        precondition(vote == nil || (vote!.height == height && SignedStep(round: vote!.round, voteType: vote!.type) == step))
        var record = Record(
            height: height, round: step.round, step: step.kind.rawValue, lockedRound: checkpoint.lockedRound,
            lockedBlockID: checkpoint.lockedBlockID?.hex, validRound: checkpoint.validRound,
            validBlockID: checkpoint.validBlockID?.hex, votedValue: vote.map { $0.blockID?.hex ?? "nil" })
        // A precommit keeps the prevote before it: both may have died with the process.
        if let vote, vote.type == .precommit, let last, last.height == height {
            if last.step == SignedStep.Kind.prevote.rawValue, let value = last.votedValue {
                (record.prevoteRound, record.prevoteValue) = (last.round, value)
            } else {
                (record.prevoteRound, record.prevoteValue) = (last.prevoteRound, last.prevoteValue)
            }
        }
        try write(record)
    }
}
