import SocaiCore
import SocaiCrypto
import SocaiState

/// A real, fully signed and executed chain built in one process, for the auditor's tests,
/// its benchmark and `socai audit sample-chain`: a genesis with four validators, a governance
/// key, one provider, one consumer and funded citizens; blocks with real state roots and
/// real commit certificates (every validator's precommit, via `DevelopmentChain`).
///
/// Keys derive from fixed seeds, so the same calls always build the same chain.
public final class SampleChain {
    /// The chain id of every sample chain.
    public static let chainIDText = "socai-audit-sample"
    /// Genesis time, milliseconds; block h has time genesis + h seconds.
    public static let genesisTimeMilliseconds: UInt64 = 1_700_000_000_000
    /// Each citizen's genesis balance.
    public static let citizenBalance: UInt64 = 1_000_000_000
    /// Most citizens a sample genesis funds (the genesis account limit is higher; this bounds memory).
    public static let citizensMax = 100_000

    /// The genesis.
    public let genesis: Genesis
    /// The genesis file's JSON bytes.
    public let genesisJSON: [UInt8]
    /// The four genesis validators' keys.
    public let validatorKeys: [SigningKey]
    /// The governance key (threshold 1).
    public let governanceKey: SigningKey
    /// An organization with the provider role.
    public let provider: SigningKey
    /// An organization with the consumer role.
    public let consumer: SigningKey
    /// Funded citizens.
    public let citizens: [SigningKey]
    /// The data category and purpose sample consents use.
    public let category: DataCategory
    /// The purpose sample consents use.
    public let purpose: Purpose

    private var chain: DevelopmentChain
    private let executor: LedgerExecutor
    private let backend = InMemoryStateBackend()
    private var nonces: [PublicKey: UInt64] = [:]
    private var governanceSequence: UInt64 = 0

    /// The height of the last block built.
    public var height: UInt64 { chain.height }
    /// The state root after the last block built.
    public var stateRoot: Hash { backend.stateRoot }
    /// The chain id.
    public var chainID: ChainID { genesis.chainID }

    /// Builds the genesis for `citizenCount` citizens, of format `formatVersion` (by default
    /// the latest).
    public init(citizenCount: Int, formatVersion: UInt8 = Genesis.formatVersionLatest) throws {
        precondition(citizenCount >= 1 && citizenCount <= Self.citizensMax)
        func key(_ label: String) throws -> SigningKey { try SigningKey(seed: SHA256.hash(Array("audit sample \(label)".utf8))) }
        validatorKeys = try (1...4).map { try key("validator \($0)") }
        governanceKey = try key("governance")
        provider = try key("provider")
        consumer = try key("consumer")
        citizens = try (0..<citizenCount).map { try key("citizen \($0)") }
        category = try DataCategory("civil-status")
        purpose = try Purpose(code: "loan-assessment", text: "Assess a loan")
        genesis = try Genesis(
            file: Genesis.File(
                formatVersion: formatVersion, chainID: Self.chainIDText, genesisTimeMilliseconds: Self.genesisTimeMilliseconds,
                validators: validatorKeys.enumerated().map {
                    Genesis.ValidatorEntry(
                        name: "validator \($0.offset + 1)", publicKey: Hex.encode($0.element.publicKey), power: 1)
                },
                governance: Genesis.Governance(keys: [Hex.encode(governanceKey.publicKey)], threshold: 1),
                organizations: [
                    Genesis.OrganizationEntry(name: "Provider", publicKey: Hex.encode(provider.publicKey), roles: [.provider]),
                    Genesis.OrganizationEntry(name: "Consumer", publicKey: Hex.encode(consumer.publicKey), roles: [.consumer]),
                ],
                accounts: citizens.map { Genesis.AccountEntry(publicKey: Hex.encode($0.publicKey), balance: Self.citizenBalance) }
            ))
        genesisJSON = genesis.jsonBytes()
        chain = try DevelopmentChain(chainID: genesis.chainID, genesisHash: genesis.hash, validatorKeys: validatorKeys)
        executor = LedgerExecutor(genesis: genesis)
        backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
    }

    /// The DID of a key (every sample party's DID derives from its key).
    public func did(_ key: SigningKey) -> DID { DID(initialKey: PublicKey(of: key)) }

    /// Signs `payload` with `key` at the key's next nonce.
    public func sign<Payload: LedgerPayload>(_ payload: Payload, with key: SigningKey) throws -> TransactionEnvelope {
        let signer = PublicKey(of: key)
        let nonce = (nonces[signer] ?? 0) + 1
        nonces[signer] = nonce
        return try payload.envelope(chainID: genesis.chainID, key: key, nonce: nonce)
    }

    /// A transfer of `amount` from citizen `from` to citizen `to`.
    public func transfer(from: Int, to: Int, amount: UInt64 = 1) throws -> TransactionEnvelope {
        try sign(Transfer(from: did(citizens[from]), to: did(citizens[to]), amount: amount), with: citizens[from])
    }

    /// Citizen `index` grants the consumer consent to receive the sample category from the provider.
    public func consentGrant(citizen index: Int, validUntilMilliseconds: UInt64 = .max, accessesMax: UInt32? = nil) throws
        -> TransactionEnvelope
    {
        try sign(
            ConsentGrant(
                subject: did(citizens[index]), consumer: did(consumer), provider: did(provider), purpose: purpose,
                categories: [category], mode: .view, validFromMilliseconds: 0, validUntilMilliseconds: validUntilMilliseconds,
                accessesMax: accessesMax), with: citizens[index])
    }

    /// Citizen `index` revokes consent `consentID`.
    public func consentRevoke(citizen index: Int, consentID: Hash) throws -> TransactionEnvelope {
        try sign(ConsentRevoke(consentID: consentID), with: citizens[index])
    }

    /// The provider records an access under consent `consentID`.
    public func access(consentID: Hash, label: String) throws -> TransactionEnvelope {
        try sign(
            AccessRecord(
                consentID: consentID, provider: did(provider), consumer: did(consumer), categories: [category],
                purposeCode: purpose.code, deliveredHash: Hash.sha256(Array(label.utf8))), with: provider)
    }

    /// The governance key sets validator `key`'s power (0 removes it); effective two blocks later.
    public func setValidatorPower(_ key: PublicKey, power: UInt64) throws -> TransactionEnvelope {
        governanceSequence += 1
        return try sign(
            Governance(sequence: governanceSequence, action: .setValidatorPower(publicKey: key, power: power)),
            with: governanceKey)
    }

    /// From the next block on, these keys sign and the headers name their set (each power 1).
    /// Call it for the height at which a governance change takes effect.
    public func switchValidators(to keys: [SigningKey]) throws {
        let set = try ValidatorSet(keys.map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        var next = try DevelopmentChain(
            chainID: genesis.chainID, genesisHash: genesis.hash, validatorKeys: keys, validatorSet: set)
        if let lastCommit = chain.lastCommit, let last = lastBlock {
            next.resume(after: last, commit: lastCommit)
        }
        chain = next
    }

    private var lastBlock: Block?

    /// Executes `transactions` as the next block, signs it and returns it with its certificate.
    /// The sample signs its own transactions, so by default their signatures are taken as
    /// valid; `checkingSignatures` executes as a node does, for blocks holding a forged one.
    /// `evidence` is committed in the block as given, and so is `proposer` when given: the
    /// sample checks neither.
    public func append(
        _ transactions: [TransactionEnvelope], evidence: [DuplicateVoteEvidence] = [], proposer: PublicKey? = nil,
        checkingSignatures: Bool = false
    ) throws -> (block: Block, commit: CommitCertificate) {
        let time = Self.genesisTimeMilliseconds + (chain.height + 1) * 1_000
        var changes: StateChanges? = nil
        let built = try chain.nextBlock(
            transactions: transactions, evidence: evidence, timeMilliseconds: time, proposer: proposer
        ) {
            (draft: Block) throws -> Hash in
            let execution = try executor.execute(draft, on: backend, signaturesVerified: !checkingSignatures)
            changes = execution.changes
            return execution.stateRoot
        }
        backend.apply(changes!)
        lastBlock = built.block
        return built
    }

    /// Appends blocks of transfers between citizens until `transactions` are written, at most
    /// `perBlock` a block (in alternate blocks citizen i pays citizen i + 1 from the first or
    /// the second half of the citizens), handing each block and its certificate to `sink`.
    public func appendTransfers(
        transactions: Int, perBlock: Int, _ sink: (Block, CommitCertificate) throws -> Void
    ) throws {
        precondition(transactions >= 0 && perBlock > 0 && perBlock * 2 <= citizens.count)
        var remaining = transactions
        var round = 0
        while remaining > 0 {
            let count = min(perBlock, remaining)
            let offset = (round % 2) * count
            let envelopes = try (0..<count).map { index in
                try transfer(from: offset + index, to: (offset + index + 1) % citizens.count)
            }
            let (block, commit) = try append(envelopes)
            try sink(block, commit)
            remaining -= count
            round += 1
        }
    }
}
