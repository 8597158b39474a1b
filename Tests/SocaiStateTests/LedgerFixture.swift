import SocaiCore
import SocaiCrypto

@testable import SocaiState

/// A ledger in memory with a governance board, a provider, a consumer and two citizens.
final class LedgerFixture {
    static let chainID = try! ChainID("socai-state-test")
    static let genesisTimeMilliseconds: UInt64 = 1_800_000_000_000
    static let initialCredits: UInt64 = 1_000_000

    let backend = InMemoryStateBackend()
    let executor: LedgerExecutor
    let genesis: Genesis
    let governanceKeys: [SigningKey]
    let validatorKeys: [SigningKey]
    let provider = LedgerFixture.key("ministry of justice")
    let consumer = LedgerFixture.key("bank")
    let citizen = LedgerFixture.key("citizen a")
    let citizen2 = LedgerFixture.key("citizen b")
    private(set) var height: UInt64 = 0
    private(set) var timeMilliseconds: UInt64 = LedgerFixture.genesisTimeMilliseconds
    private(set) var previousHash: Hash

    static func key(_ label: String) -> SigningKey { try! SigningKey(seed: SHA256.hash(Array(label.utf8))) }

    var providerDID: DID { DID(initialKey: PublicKey(of: provider)) }
    var consumerDID: DID { DID(initialKey: PublicKey(of: consumer)) }
    var citizenDID: DID { DID(initialKey: PublicKey(of: citizen)) }
    var citizen2DID: DID { DID(initialKey: PublicKey(of: citizen2)) }

    /// `governanceThreshold` of three governance keys must approve governance actions; the
    /// chain is of `formatVersion` (by default the latest).
    init(governanceThreshold: UInt16 = 1, formatVersion: UInt8 = Genesis.formatVersionLatest) {
        governanceKeys = (1...3).map { LedgerFixture.key("governance \($0)") }
        validatorKeys = (1...4).map { LedgerFixture.key("validator \($0)") }
        let file = Genesis.File(
            formatVersion: formatVersion, chainID: Self.chainID.value, genesisTimeMilliseconds: Self.genesisTimeMilliseconds,
            validators: validatorKeys.enumerated().map {
                Genesis.ValidatorEntry(name: "v\($0.offset)", publicKey: Hex.encode($0.element.publicKey), power: 10)
            },
            governance: Genesis.Governance(keys: governanceKeys.map { Hex.encode($0.publicKey) }, threshold: governanceThreshold),
            organizations: [
                Genesis.OrganizationEntry(
                    name: "Ministry of Justice", publicKey: Hex.encode(provider.publicKey), roles: [.provider]),
                Genesis.OrganizationEntry(name: "Bank", publicKey: Hex.encode(consumer.publicKey), roles: [.consumer]),
            ],
            accounts: [
                Genesis.AccountEntry(publicKey: Hex.encode(consumer.publicKey), balance: Self.initialCredits),
                Genesis.AccountEntry(publicKey: Hex.encode(provider.publicKey), balance: Self.initialCredits),
            ])
        genesis = try! Genesis(file: file)
        executor = LedgerExecutor(genesis: genesis)
        backend.apply(try! LedgerExecutor.genesisChanges(genesis, on: backend))
        previousHash = genesis.hash
    }

    /// The signer's next nonce, read from state.
    func nextNonce(_ key: SigningKey) -> UInt64 {
        let bytes = try! backend.value(forKey: StateKey.account(PublicKey(of: key)))
        return (bytes.map { try! AccountRecord(canonicalBytes: $0).nonce } ?? 0) + 1
    }

    /// A signed envelope with the signer's next nonce (plus `nonceOffset` within one block).
    func transaction(_ payload: some LedgerPayload, by key: SigningKey, nonceOffset: UInt64 = 0) -> TransactionEnvelope {
        try! payload.envelope(chainID: Self.chainID, key: key, nonce: nextNonce(key) + nonceOffset)
    }

    /// Executes a block of `transactions`, `advanceMilliseconds` after the previous one, and applies it.
    @discardableResult
    func block(_ transactions: [TransactionEnvelope], advanceMilliseconds: UInt64 = 1_000) throws -> BlockExecution {
        height += 1
        timeMilliseconds += advanceMilliseconds
        let header = BlockHeader(
            chainID: Self.chainID, height: height, timeMilliseconds: timeMilliseconds, previousBlockHash: previousHash,
            lastCommitHash: .zero, transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot([]),
            stateRoot: .zero, validatorsHash: .zero, proposer: PublicKey(of: validatorKeys[0]))
        let block = Block(header: header, lastCommit: nil, transactions: transactions, evidence: [])
        let execution = try executor.execute(block, on: backend)
        backend.apply(execution.changes)
        previousHash = block.hash
        return execution
    }

    /// Runs one transaction in its own block and returns its outcome.
    @discardableResult
    func run(_ payload: some LedgerPayload, by key: SigningKey, advanceMilliseconds: UInt64 = 1_000) throws -> TransactionOutcome
    {
        try block([transaction(payload, by: key)], advanceMilliseconds: advanceMilliseconds).outcomes[0]
    }

    /// Creates the two citizens' DIDs.
    func createCitizens() throws {
        try block([
            transaction(DIDCreate(did: citizenDID), by: citizen), transaction(DIDCreate(did: citizen2DID), by: citizen2),
        ])
    }

    func record<Record: StateRecord>(_ type: Record.Type, _ key: [UInt8]) -> Record? {
        try! backend.value(forKey: key).map { try! Record(canonicalBytes: $0) }
    }

    func balance(_ did: DID) -> UInt64 { record(AmountRecord.self, StateKey.balance(did))?.value ?? 0 }

    func purpose(_ code: String = "loan-assessment") -> Purpose { try! Purpose(code: code, text: "Assess a loan application") }

    static func categories(_ names: String...) -> [DataCategory] { names.map { try! DataCategory($0) } }

    /// A grant by the first citizen to the consumer, from the provider.
    func grant(
        categories: [DataCategory] = LedgerFixture.categories("civil-status", "residence"),
        purposeCode: String = "loan-assessment",
        from: UInt64? = nil, until: UInt64? = nil, accessesMax: UInt32? = nil, subject: DID? = nil
    ) -> ConsentGrant {
        ConsentGrant(
            subject: subject ?? citizenDID, consumer: consumerDID, provider: providerDID, purpose: purpose(purposeCode),
            categories: categories,
            mode: .view, validFromMilliseconds: from ?? timeMilliseconds,
            validUntilMilliseconds: until ?? timeMilliseconds + 86_400_000,
            accessesMax: accessesMax)
    }
}
