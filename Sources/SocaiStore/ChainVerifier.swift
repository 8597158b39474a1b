import SocaiCore

/// The outcome of walking a stored chain from block 1 to the tip.
public struct ChainVerificationReport: Sendable, Equatable {
    /// Height of the store's tip.
    public var tipHeight: UInt64
    /// Highest height up to which every check passed.
    public var verifiedHeight: UInt64
    /// The first height that failed, if any.
    public var firstBadHeight: UInt64?
    /// What was wrong at `firstBadHeight`.
    public var problem: String?

    /// Whether the whole chain verified.
    public var isValid: Bool { firstBadHeight == nil }
}

extension BlockStore {
    /// Walks every stored block in order and checks: it decodes and matches its stored hash;
    /// its previous-block hash links to the block below (the genesis hash at height 1); its
    /// transactions and evidence roots and last-commit hash match its body; the certificate
    /// stored with it is for it. When `validatorSet` gives the set in force at a height, the
    /// header's validators hash, its proposer's membership, and every certificate's signatures
    /// and power are checked too.
    /// Where the store keeps ledger state, each header's state root is checked against the
    /// root recorded for its height.
    ///
    /// Stops at the first bad height and reports it.
    public func verifyChain(
        validatorSet: (UInt64) -> ValidatorSet? = { _ in nil }
    ) -> ChainVerificationReport {
        var report = ChainVerificationReport(tipHeight: height, verifiedHeight: 0)
        var previousHash = genesisHash
        var current: UInt64 = 1
        while current <= height {
            do {
                guard let (block, commit) = try block(at: current) else {
                    throw StoreError(.corrupt, "block \(current) is missing")
                }
                let header = block.header
                guard header.chainID == chainID else {
                    throw StoreError(.wrongChain, "block \(current) is for chain \(header.chainID)")
                }
                guard header.previousBlockHash == previousHash else {
                    throw StoreError(
                        .brokenLink, "block \(current) links to \(header.previousBlockHash), expected \(previousHash)")
                }
                try block.validateBasic()
                // Where the store keeps ledger state, the header's state root must be the root
                // recorded when the block was executed.
                if state.height != nil {
                    guard let root = try state.stateRoot(atHeight: current), root == header.stateRoot else {
                        throw VerificationError(
                            .mismatch, "block \(current): header state root does not match the executed state")
                    }
                }
                if let set = validatorSet(current) {
                    guard header.validatorsHash == set.hash else {
                        throw VerificationError(
                            .mismatch, "block \(current): validators hash does not match the validator set in force")
                    }
                    guard set.validator(for: header.proposer) != nil else {
                        throw VerificationError(
                            .unknownValidator,
                            "block \(current): proposer \(header.proposer) is not in the validator set in force")
                    }
                    try commit.verify(chainID: chainID, validatorSet: set)
                    if current > 1, let lastCommit = block.lastCommit, let previousSet = validatorSet(current - 1) {
                        try lastCommit.verify(chainID: chainID, validatorSet: previousSet)
                    }
                }
                previousHash = block.hash
                report.verifiedHeight = current
            } catch {
                report.firstBadHeight = current
                report.problem = "\(error)"
                return report
            }
            current += 1
        }
        if previousHash != tipHash {
            report.firstBadHeight = height
            report.problem = "the recorded tip hash does not match block \(height)"
        }
        return report
    }
}
