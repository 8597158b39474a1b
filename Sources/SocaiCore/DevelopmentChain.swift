import SocaiCrypto

/// Builds a valid, fully signed chain from validator keys held in one process.
///
/// Not consensus: every validator's precommit is signed here directly. It exists so that
/// store tests, crash tests, benchmarks and tools can produce real blocks with real commit
/// certificates that pass every check an auditor makes, without running a network.
public struct DevelopmentChain {
    /// The chain id.
    public let chainID: ChainID
    /// The genesis hash block 1 links to.
    public let genesisHash: Hash
    /// The validators' signing keys.
    public let validatorKeys: [SigningKey]
    /// The validator set the chain's headers name; the keys hold more than two thirds of its power.
    public let validatorSet: ValidatorSet
    /// Height of the last block built; 0 before the first.
    public private(set) var height: UInt64 = 0
    /// Hash of the last block built; the genesis hash before the first.
    public private(set) var tipHash: Hash
    /// Certificate of the last block built.
    public private(set) var lastCommit: CommitCertificate?

    /// Starts a chain after the given genesis. Without `validatorSet`, the keys form the set,
    /// each with power 1; with it, the keys must be members holding more than two thirds of its power.
    public init(
        chainID: ChainID, genesisHash: Hash, validatorKeys: [SigningKey], validatorSet: ValidatorSet? = nil
    ) throws(FormatError) {
        self.chainID = chainID
        self.genesisHash = genesisHash
        self.validatorKeys = validatorKeys
        let set: ValidatorSet
        if let validatorSet {
            set = validatorSet
        } else {
            set = try ValidatorSet(validatorKeys.map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        }
        var power: UInt64 = 0
        for key in validatorKeys {
            guard let member = set.validator(for: PublicKey(of: key)) else {
                throw FormatError(.invalidValue, "signing key \(PublicKey(of: key)) is not in the validator set")
            }
            power += member.power
        }
        guard set.isQuorum(power) else {
            throw FormatError(
                .invalidValue, "the signing keys hold \(power) of \(set.totalPower) voting power; more than two thirds is needed")
        }
        self.validatorSet = set
        tipHash = genesisHash
    }

    /// Continues from a stored tip instead of rebuilding every earlier block.
    public mutating func resume(after block: Block, commit: CommitCertificate) {
        precondition(commit.blockID == block.hash && block.header.chainID == chainID)
        height = block.header.height
        tipHash = block.hash
        lastCommit = commit
    }

    /// Builds the next block twice: first with a zero state root, which `stateRoot` receives
    /// (to execute it), then with the root it returns; signs and returns the second.
    public mutating func nextBlock<Failure: Error>(
        transactions: [TransactionEnvelope], evidence: [DuplicateVoteEvidence] = [], timeMilliseconds: UInt64,
        proposer: PublicKey? = nil, stateRoot: (Block) throws(Failure) -> Hash
    ) throws(Failure) -> (block: Block, commit: CommitCertificate) {
        var draftChain = self
        let draft = draftChain.nextBlock(
            transactions: transactions, evidence: evidence, timeMilliseconds: timeMilliseconds, proposer: proposer)
        return nextBlock(
            transactions: transactions, evidence: evidence, timeMilliseconds: timeMilliseconds, proposer: proposer,
            stateRoot: try stateRoot(draft.block))
    }

    /// Builds, signs and returns the next block with its commit certificate. The proposer is
    /// the validators' turn by height unless `proposer` names another key (tests use it to
    /// make a block whose proposer is not a validator).
    public mutating func nextBlock(
        transactions: [TransactionEnvelope], evidence: [DuplicateVoteEvidence] = [],
        timeMilliseconds: UInt64, proposer: PublicKey? = nil, stateRoot: Hash = .zero
    ) -> (block: Block, commit: CommitCertificate) {
        let nextHeight = height + 1
        let proposerIndex = Int((nextHeight - 1) % UInt64(validatorKeys.count))
        let header = BlockHeader(
            chainID: chainID, height: nextHeight, timeMilliseconds: timeMilliseconds,
            previousBlockHash: tipHash, lastCommitHash: lastCommit?.hash ?? .zero,
            transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot(evidence),
            stateRoot: stateRoot, validatorsHash: validatorSet.hash,
            proposer: proposer ?? PublicKey(of: validatorKeys[proposerIndex]))
        let block = Block(header: header, lastCommit: lastCommit, transactions: transactions, evidence: evidence)
        let blockHash = block.hash
        let precommits = validatorKeys.map { key in
            var vote = Vote(type: .precommit, height: nextHeight, round: 0, blockID: blockHash, validator: PublicKey(of: key))
            vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: key)
            return vote
        }
        // Precommits built just above share height, round and block: construction cannot fail.
        let commit = try! CommitCertificate(precommits: precommits)
        height = nextHeight
        tipHash = blockHash
        lastCommit = commit
        return (block, commit)
    }
}
