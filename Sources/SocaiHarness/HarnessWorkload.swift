import SocaiCore
import SocaiCrypto
import SocaiState

/// The keys and payloads of a run's workload, all derived from the seed.
struct HarnessWorkload: Sendable {
    /// The consent purpose and data category every workload consent and access uses.
    static let purposeCode = "loan-assessment"
    static let category = "civil-status"
    /// Credits each consumer organization holds at genesis.
    static let consumerCredits: UInt64 = 1_000_000
    /// Consents are valid until 3000-01-01.
    static let consentValidUntilMilliseconds: UInt64 = 32_503_680_000_000

    let seed: UInt64
    let chainID: ChainID

    private func key(_ role: String, _ index: Int) -> SigningKey {
        try! SigningKey(seed: SHA256.hash(Array("socai-harness-\(seed)-\(role)-\(index)".utf8)))
    }

    func citizen(_ index: Int) -> SigningKey { key("citizen", index) }
    func provider(_ index: Int) -> SigningKey { key("provider", index) }
    func consumer(_ index: Int) -> SigningKey { key("consumer", index) }

    static func did(_ key: SigningKey) -> DID { DID(initialKey: PublicKey(of: key)) }

    /// `genesis init` options registering the organizations and funding the consumers.
    func genesisArguments() -> [String] {
        var arguments: [String] = []
        for index in 0..<HarnessPlan.providersCount {
            arguments += ["--organization", "Provider\(index + 1)=provider=\(Hex.encode(provider(index).publicKey))"]
        }
        for index in 0..<HarnessPlan.consumersCount {
            let publicKey = Hex.encode(consumer(index).publicKey)
            arguments += ["--organization", "Consumer\(index + 1)=consumer=\(publicKey)"]
            arguments += ["--account", "\(publicKey)=\(Self.consumerCredits)"]
        }
        return arguments
    }

    /// The key that signs `transaction`.
    func signer(of transaction: PlannedTransaction) -> SigningKey {
        switch transaction.kind {
        case .didCreate, .didUpdate, .consentGrant: return citizen(transaction.signer)
        case .accessRecord: return provider(transaction.signer)
        case .orderPlace: return consumer(transaction.signer)
        }
    }

    /// The run's one market offer, by provider 1.
    func offer(nonce: UInt64) throws -> TransactionEnvelope {
        let payload = OfferCreate(
            provider: Self.did(provider(0)), title: "Harness data product", categories: [try DataCategory(Self.category)],
            schemaHash: Hash.sha256(Array("socai-harness-schema".utf8)), price: 1,
            license: try License(allowedPurposes: [Self.purposeCode], durationMilliseconds: 86_400_000, resaleAllowed: false),
            subjects: [], deliveryDeadlineBlocks: 100)
        return try payload.envelope(chainID: chainID, key: provider(0), nonce: nonce)
    }

    /// The signed transaction for `transaction`; `dependency` is the plan entry it builds on
    /// and `dependencyHash` that entry's committed hash.
    func envelope(
        _ transaction: PlannedTransaction, nonce: UInt64, dependency: PlannedTransaction?, dependencyHash: Hash?,
        offerID: Hash?
    ) throws -> TransactionEnvelope {
        let key = signer(of: transaction)
        let category = try DataCategory(Self.category)
        switch transaction.kind {
        case .didCreate:
            return try DIDCreate(did: Self.did(key)).envelope(chainID: chainID, key: key, nonce: nonce)
        case .didUpdate:
            let service = try DIDService(
                id: "harness-\(transaction.index)", type: "LinkedDomains", endpoint: "https://example.org/\(transaction.index)")
            return try DIDUpdate(did: Self.did(key), operations: [.addService(service)]).envelope(
                chainID: chainID, key: key, nonce: nonce)
        case .consentGrant:
            let grant = ConsentGrant(
                subject: Self.did(key), consumer: Self.did(consumer(transaction.consumer ?? 0)),
                provider: Self.did(provider(transaction.provider ?? 0)),
                purpose: try Purpose(code: Self.purposeCode, text: "Harness workload"), categories: [category], mode: .view,
                validFromMilliseconds: 0, validUntilMilliseconds: Self.consentValidUntilMilliseconds)
            return try grant.envelope(chainID: chainID, key: key, nonce: nonce)
        case .accessRecord:
            guard let dependency, let dependencyHash else { throw HarnessError(.process, "an access needs its consent") }
            let access = AccessRecord(
                consentID: dependencyHash, provider: Self.did(key), consumer: Self.did(consumer(dependency.consumer ?? 0)),
                categories: [category], purposeCode: Self.purposeCode,
                deliveredHash: Hash.sha256(Array("delivered-\(transaction.index)".utf8)))
            return try access.envelope(chainID: chainID, key: key, nonce: nonce)
        case .orderPlace:
            guard let offerID else { throw HarnessError(.process, "an order needs the run's offer") }
            return try OrderPlace(consumer: Self.did(key), offerID: offerID, purposeCode: Self.purposeCode, consentIDs: [])
                .envelope(chainID: chainID, key: key, nonce: nonce)
        }
    }
}
