import SocaiConsensus
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNode

/// A proposal's certificate for the tip is checked against the node's own certificate first:
/// signatures found there count as verified, every other one is verified, and every rule of
/// `CommitCertificate.verify` still applies.
@Suite struct LastCommitReuseTests {
    static let chainID = try! ChainID("socai-test")
    static let keys = (0..<4).map { try! SigningKey(seed: SHA256.hash(Array("last-commit \($0)".utf8))) }
    static let set = try! ValidatorSet(keys.map { Validator(publicKey: PublicKey(of: $0), power: 10) })
    static let block = Hash.sha256(Array("tip".utf8))

    static func precommit(_ index: Int, round: UInt32 = 0) -> Vote {
        var vote = Vote(type: .precommit, height: 6, round: round, blockID: block, validator: PublicKey(of: keys[index]))
        vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: keys[index])
        return vote
    }

    static func certificate(_ votes: [Vote]) throws -> CommitCertificate { try CommitCertificate(precommits: votes) }

    static func forged(_ vote: Vote) throws -> Vote {
        var forged = vote
        var bytes = vote.signature.bytes
        bytes[5] ^= 0x01
        forged.signature = try Signature(bytes)
        return forged
    }

    static func check(_ lastCommit: CommitCertificate, own: CommitCertificate?) throws(VerificationError) {
        try ValidatorNode.verifyLastCommit(lastCommit, own: own, validatorSet: set, chainID: chainID)
    }

    @Test func aCertificateMatchingTheNodesOwnOrExtendingItPasses() throws {
        let own = try Self.certificate([0, 1, 2].map { Self.precommit($0) })
        try Self.check(own, own: own)
        // A fourth, valid precommit the node did not collect is verified on its own.
        try Self.check(try Self.certificate([0, 1, 2, 3].map { Self.precommit($0) }), own: own)
        try Self.check(try Self.certificate([1, 2, 3].map { Self.precommit($0) }), own: own)
    }

    @Test func aSignatureNotInTheOwnCertificateIsStillVerified() throws {
        let own = try Self.certificate([0, 1, 2].map { Self.precommit($0) })
        // Validator 3's forged precommit is in no certificate the node made.
        let lastCommit = try Self.certificate([Self.precommit(0), Self.precommit(1), try Self.forged(Self.precommit(3))])
        #expect { try Self.check(lastCommit, own: own) } throws: { ($0 as? VerificationError)?.code == .invalidSignature }
        // Validator 1's entry differs from the node's: it is verified, and fails.
        let altered = try Self.certificate([Self.precommit(0), try Self.forged(Self.precommit(1)), Self.precommit(2)])
        #expect { try Self.check(altered, own: own) } throws: { ($0 as? VerificationError)?.code == .invalidSignature }
    }

    @Test func theOwnCertificateCountsOnlyForTheSameHeightRoundAndBlock() throws {
        // A certificate the node holds is trusted as it is; here its round differs from the
        // proposal's, so nothing is taken from it and the forged entry is caught.
        let forged = try Self.certificate([Self.precommit(0), Self.precommit(1), try Self.forged(Self.precommit(2))])
        let ownOtherRound = try Self.certificate([0, 1, 2].map { Self.precommit($0, round: 1) })
        #expect { try Self.check(forged, own: ownOtherRound) } throws: {
            ($0 as? VerificationError)?.code == .invalidSignature
        }
        #expect { try Self.check(forged, own: nil) } throws: { ($0 as? VerificationError)?.code == .invalidSignature }
        // Identical entries are not verified again: a certificate the node made is taken as
        // verified (the machine builds it only from verified precommits).
        try Self.check(forged, own: forged)
    }

    @Test func quorumAndMembershipStillApply() throws {
        let own = try Self.certificate([0, 1, 2].map { Self.precommit($0) })
        let tooFew = try Self.certificate([0, 1].map { Self.precommit($0) })
        #expect { try Self.check(tooFew, own: own) } throws: { ($0 as? VerificationError)?.code == .insufficientPower }
        let stranger = try SigningKey(seed: SHA256.hash(Array("stranger".utf8)))
        var outsider = Vote(type: .precommit, height: 6, round: 0, blockID: Self.block, validator: PublicKey(of: stranger))
        outsider.signature = Signature(signing: outsider.signingBytes(chainID: Self.chainID), with: stranger)
        let withOutsider = try Self.certificate([Self.precommit(0), Self.precommit(1), Self.precommit(2), outsider])
        #expect { try Self.check(withOutsider, own: own) } throws: {
            ($0 as? VerificationError)?.code == .unknownValidator
        }
    }
}
