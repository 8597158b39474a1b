import Foundation
import SocaiConsensus
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNode

/// The signer record keeps the value of the last vote, so a restarted validator can send the
/// identical vote again instead of losing it.
@Suite struct SignerGuardVoteTests {
    static let key = try! SigningKey(seed: SHA256.hash(Array("signer-guard-vote".utf8)))

    static func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-signer-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func checkpoint(height: UInt64, round: UInt32, step: SignedStep) -> ConsensusCheckpoint {
        ConsensusCheckpoint(
            height: height, round: round, lockedRound: nil, lockedBlockID: nil, validRound: nil, validBlockID: nil,
            lastSigned: step)
    }

    @Test func theLastVoteSurvivesAReopenAndSignsIdentically() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let validator = PublicKey(of: Self.key)
        let block = Hash.sha256(Array("block".utf8))
        var vote = Vote(type: .precommit, height: 7, round: 2, blockID: block, validator: validator)
        let step = SignedStep(round: 2, voteType: .precommit)
        try SignerGuard(dataDirectory: path).record(
            height: 7, step: step, checkpoint: Self.checkpoint(height: 7, round: 2, step: step), vote: vote)

        let reopened = try SignerGuard(dataDirectory: path)
        let recovered = try #require(reopened.lastVote(validator: validator))
        #expect(recovered == vote)
        // Signing the recovered vote gives the very signature sent before: not a second vote.
        vote.signature = Signature(signing: vote.signingBytes(chainID: try ChainID("socai-test")), with: Self.key)
        var again = recovered
        again.signature = Signature(signing: again.signingBytes(chainID: try ChainID("socai-test")), with: Self.key)
        #expect(again == vote)
        #expect(!reopened.allows(height: 7, step: step))
    }

    @Test func aPrecommitKeepsThePrevoteBeforeIt() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let validator = PublicKey(of: Self.key)
        let block = Hash.sha256(Array("block".utf8))
        let record = try SignerGuard(dataDirectory: path)
        let prevote = Vote(type: .prevote, height: 9, round: 0, blockID: block, validator: validator)
        let precommit = Vote(type: .precommit, height: 9, round: 0, blockID: block, validator: validator)
        for vote in [prevote, precommit] {
            let step = SignedStep(round: vote.round, voteType: vote.type)
            try record.record(
                height: 9, step: step, checkpoint: Self.checkpoint(height: 9, round: 0, step: step), vote: vote)
        }
        #expect(try SignerGuard(dataDirectory: path).lastVotes(validator: validator) == [prevote, precommit])
    }

    @Test func aNilVoteIsRecoveredAsNilAndAProposalAsNoVote() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let validator = PublicKey(of: Self.key)
        let guardRecord = try SignerGuard(dataDirectory: path)
        let prevote = SignedStep(round: 0, voteType: .prevote)
        try guardRecord.record(
            height: 3, step: prevote, checkpoint: Self.checkpoint(height: 3, round: 0, step: prevote),
            vote: Vote(type: .prevote, height: 3, round: 0, blockID: nil, validator: validator))
        let recovered = try #require(try SignerGuard(dataDirectory: path).lastVote(validator: validator))
        #expect(recovered.blockID == nil && recovered.type == .prevote && recovered.height == 3)

        let proposal = SignedStep(round: 1, kind: .proposal)
        try guardRecord.record(height: 3, step: proposal, checkpoint: Self.checkpoint(height: 3, round: 1, step: proposal))
        #expect(try SignerGuard(dataDirectory: path).lastVote(validator: validator) == nil)
    }
}
