import Foundation
import SocaiConsensus
import SocaiCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Double-sign protection: the last (height, round, step) this validator signed, kept in
/// `<data>/signer_state.json` and synced to disk before any signature leaves the process.
/// After a restart the node refuses to sign anything at or below it (CometBFT's
/// priv_validator_state).
public final class SignerGuard {
    /// The file's name inside the data directory.
    public static let fileName = "signer_state.json"

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
    }

    private let path: String
    private(set) var last: Record?

    /// Opens (or starts) the record in `dataDirectory`.
    public init(dataDirectory: String) throws {
        path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        if let data = FileManager.default.contents(atPath: path) {
            do { last = try JSONDecoder().decode(Record.self, from: data) } catch {
                throw NodeError(.invalid, "\(path) is damaged; refusing to sign without knowing what was signed last")
            }
        }
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
        let data = try JSONEncoder().encode(record)
        // Write a temporary file, fsync it, rename over the record, fsync the directory: after a
        // crash at any point the file holds either the old or the new record, never a torn one.
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw NodeError(.io, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, data.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0, rename(temporary, path) == 0 else {
            throw NodeError(.io, "cannot persist \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
        last = record
    }
}
