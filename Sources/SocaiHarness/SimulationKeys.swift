import SocaiConsensus
import SocaiCore
import SocaiCrypto

/// Deterministic keys, chain id and signing helpers for the simulated validators.
public enum SimulationKeys {
    /// Most validators a simulation may have (one fixed key each).
    public static let validatorsMax = 12
    /// The chain id every simulated vote is signed for.
    public static let chainID = try! ChainID("socai-consensus-test")

    /// Fixed keys; their seeds are SHA-256 of "validator-N", so runs are reproducible.
    public static let keys: [SigningKey] = (0..<validatorsMax).map { index in
        try! SigningKey(seed: SHA256.hash(Array("validator-\(index)".utf8)))
    }

    /// The public key of validator `index`.
    public static func publicKey(_ index: Int) -> PublicKey { PublicKey(of: keys[index]) }

    /// A validator set of keys 0..<powers.count with the given powers.
    public static func validatorSet(powers: [UInt64]) -> ValidatorSet {
        precondition(!powers.isEmpty && powers.count <= validatorsMax)
        return try! ValidatorSet(powers.enumerated().map { Validator(publicKey: publicKey($0.offset), power: $0.element) })
    }

    /// `vote` signed with `key` for `chainID`.
    public static func signed(_ vote: Vote, with key: SigningKey, chainID: ChainID = chainID) -> Vote {
        var vote = vote
        vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: key)
        return vote
    }

    /// `proposal` signed with `key` for `chainID`.
    public static func signed(_ proposal: Proposal, with key: SigningKey, chainID: ChainID = chainID) -> Proposal {
        var proposal = proposal
        proposal.signature = Signature(signing: proposal.signingBytes(chainID: chainID), with: key)
        return proposal
    }
}
