import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

/// SplitMix64: a seed reproduces a whole random run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }
}

/// Random but plausible transaction streams against the fixture's ledger.
struct Workload {
    var random: SeededGenerator
    let ledger: LedgerFixture
    var consents: [Hash] = []
    var grants: [Hash: ConsentGrant] = [:]
    var offers: [Hash] = []
    var orders: [Hash] = []

    init(seed: UInt64, ledger: LedgerFixture) {
        random = SeededGenerator(seed: seed)
        self.ledger = ledger
    }

    mutating func pick<Element>(_ elements: [Element]) -> Element? {
        elements.isEmpty ? nil : elements[Int.random(in: 0..<elements.count, using: &random)]
    }

    /// One block's worth of transactions (each signer's nonces in order within the block).
    mutating func nextBlock() -> [TransactionEnvelope] {
        var offsets: [PublicKey: UInt64] = [:]
        var transactions: [TransactionEnvelope] = []
        let citizens = [(ledger.citizen, ledger.citizenDID), (ledger.citizen2, ledger.citizen2DID)]
        let allCategories = LedgerFixture.categories("civil-status", "residence", "tax", "land")
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            let (payload, key): (any LedgerPayload, SigningKey)
            let (citizenKey, citizenDID) = pick(citizens)!
            let categories = Array(allCategories.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)))
            let purposeCode = pick(["loan-assessment", "loan-assessment", "marketing"])!
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                (payload, key) = (DIDCreate(did: citizenDID), citizenKey)
            case 1, 2:
                let now = ledger.timeMilliseconds
                let grant = ConsentGrant(
                    subject: citizenDID, consumer: ledger.consumerDID, provider: ledger.providerDID,
                    purpose: ledger.purpose(purposeCode),
                    categories: categories, mode: .view,
                    validFromMilliseconds: now + UInt64.random(in: 0...3_000, using: &random),
                    validUntilMilliseconds: now + UInt64.random(in: 1_000...20_000, using: &random),
                    accessesMax: Bool.random(using: &random) ? UInt32.random(in: 1...3, using: &random) : nil)
                (payload, key) = (grant, citizenKey)
            case 3:
                guard let consent = pick(consents) else { continue }
                (payload, key) = (ConsentRevoke(consentID: consent), citizenKey)
            case 4, 5:
                guard let consent = pick(consents) else { continue }
                // Mostly ask within the grant, sometimes outside it, so both paths run.
                let withinGrant = Int.random(in: 0..<4, using: &random) > 0
                let grant = grants[consent]!
                let access = AccessRecord(
                    consentID: consent, provider: ledger.providerDID, consumer: ledger.consumerDID,
                    categories: withinGrant ? [pick(grant.categories)!] : categories,
                    purposeCode: withinGrant ? grant.purpose.code : purposeCode,
                    deliveredHash: Hash.sha256([UInt8.random(in: 0...255, using: &random)]))
                (payload, key) = (access, ledger.provider)
            case 6:
                let (fromKey, fromDID) = pick([(ledger.consumer, ledger.consumerDID), (ledger.provider, ledger.providerDID)])!
                (payload, key) = (
                    Transfer(from: fromDID, to: citizenDID, amount: UInt64.random(in: 1...400_000, using: &random)), fromKey
                )
            case 7:
                let offer = OfferCreate(
                    provider: ledger.providerDID, title: "Extract", categories: categories, schemaHash: .zero,
                    price: UInt64.random(in: 0...300_000, using: &random),
                    license: try! License(
                        allowedPurposes: ["loan-assessment"], durationMilliseconds: 1_000, resaleAllowed: false),
                    subjects: Bool.random(using: &random) ? [citizenDID] : [],
                    deliveryDeadlineBlocks: UInt64.random(in: 1...3, using: &random))
                (payload, key) = (offer, ledger.provider)
            case 8:
                guard let offer = pick(offers) else { continue }
                let consentIDs = Bool.random(using: &random) ? [pick(consents) ?? .zero] : []
                (payload, key) = (
                    OrderPlace(consumer: ledger.consumerDID, offerID: offer, purposeCode: purposeCode, consentIDs: consentIDs),
                    ledger.consumer
                )
            default:
                guard let order = pick(orders) else { continue }
                switch Int.random(in: 0..<3, using: &random) {
                case 0: (payload, key) = (OrderDeliver(orderID: order, packageHash: .zero), ledger.provider)
                case 1: (payload, key) = (OrderConfirm(id: order), ledger.consumer)
                default: (payload, key) = (OrderRefund(id: order), ledger.consumer)
                }
            }
            let signer = PublicKey(of: key)
            let offset = offsets[signer, default: 0]
            offsets[signer] = offset + 1
            let envelope = ledger.transaction(payload, by: key, nonceOffset: offset)
            transactions.append(envelope)
            switch payload {
            case let grant as ConsentGrant:
                consents.append(envelope.hash)
                grants[envelope.hash] = grant
            case is OfferCreate: offers.append(envelope.hash)
            case is OrderPlace: orders.append(envelope.hash)
            default: break
            }
        }
        return transactions
    }
}

@Suite struct PropertyTests {
    /// Seeds for the short run in `make test`; each explores a different stream.
    static let seeds: [UInt64] = Array(1...12)
    static let blocksPerSeed = 40

    func sum(_ ledger: LedgerFixture, prefix: String) -> UInt64 {
        try! ledger.backend.entries(withPrefix: Array(prefix.utf8), after: nil, limit: 10_000)
            .map { try! AmountRecord(canonicalBytes: $0.value).value }.reduce(0, +)
    }

    @Test(arguments: seeds)
    func invariantsHoldOverRandomStreams(seed: UInt64) throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        var workload = Workload(seed: seed, ledger: ledger)
        let totalCredits = sum(ledger, prefix: "balance/")
        var usedNonces: Set<[UInt8]> = []
        var accessesSeen = 0
        var applied: [UInt16: Int] = [:]
        for _ in 0..<Self.blocksPerSeed {
            let transactions = workload.nextBlock()
            let execution = try ledger.block(transactions, advanceMilliseconds: 1_500)
            for (envelope, outcome) in zip(transactions, execution.outcomes) where outcome.code == .ok {
                applied[envelope.kind, default: 0] += 1
            }
            // Nonces: every consumed (signer, nonce) pair is new.
            for (envelope, outcome) in zip(transactions, execution.outcomes)
            where outcome.code.consumesNonce || outcome.code == .ok {
                let pair = envelope.signer.bytes + StateKey.number(envelope.nonce)
                #expect(usedNonces.insert(pair).inserted, "seed \(seed): nonce \(envelope.nonce) reused")
            }
            // Value: balances plus escrow equal the genesis total, and escrow equals the open orders' escrow.
            let escrow = ledger.record(AmountRecord.self, StateKey.escrowTotal)?.value ?? 0
            #expect(
                sum(ledger, prefix: "balance/") + escrow == totalCredits,
                "seed \(seed): credits not conserved at height \(ledger.height)")
            let openEscrow = try ledger.backend.entries(withPrefix: StateKey.orderPrefix, after: nil, limit: 10_000)
                .map { try OrderRecord(canonicalBytes: $0.value).escrow }.reduce(0, +)
            #expect(openEscrow == escrow, "seed \(seed): escrow total disagrees with the orders")
        }
        // No access without a consent that was valid when it was recorded.
        for subject in [ledger.citizenDID, ledger.citizen2DID] {
            let log = try ledger.backend.entries(withPrefix: StateKey.accessPrefix(subject), after: nil, limit: 10_000)
            accessesSeen += log.count
            var perConsent: [Hash: UInt32] = [:]
            for item in log {
                let entry = try AccessLogEntry(canonicalBytes: item.value)
                let consent = try #require(ledger.record(ConsentRecord.self, StateKey.consent(entry.access.consentID)))
                let grant = consent.grant
                #expect(grant.subject == subject)
                #expect(
                    entry.milliseconds >= grant.validFromMilliseconds && entry.milliseconds < grant.validUntilMilliseconds,
                    "seed \(seed): access outside validity")
                #expect(consent.revokedHeight.map { entry.height < $0 } ?? true, "seed \(seed): access at or after revocation")
                #expect(Set(entry.access.categories).isSubset(of: grant.categories))
                #expect(entry.access.purposeCode == grant.purpose.code)
                perConsent[consent.id, default: 0] += 1
                if let maximum = grant.accessesMax {
                    #expect(perConsent[consent.id]! <= maximum, "seed \(seed): access limit exceeded")
                }
            }
        }
        // The stream must exercise the rules, or the properties prove little.
        #expect(workload.consents.count > 5)
        #expect(accessesSeen > 0, "seed \(seed): no access was ever accepted")
        #expect(applied.count >= 5, "seed \(seed): only kinds \(applied.keys.sorted()) were ever applied")
    }

    @Test func theSameBlocksGiveTheSameStateEverywhere() throws {
        let first = LedgerFixture()
        let second = LedgerFixture()
        var workload = Workload(seed: 99, ledger: first)
        for _ in 0..<30 {
            let transactions = workload.nextBlock()
            let a = try first.block(transactions, advanceMilliseconds: 1_500)
            let b = try second.block(transactions, advanceMilliseconds: 1_500)
            #expect(a.stateRoot == b.stateRoot)
            #expect(a.outcomes == b.outcomes)
            #expect(a.changes == b.changes)
        }
        #expect(first.backend.stateRoot == second.backend.stateRoot)
        #expect(first.backend.stateRoot != .zero)
    }

    @Test func listsArePagedByCursorAndEveryPageIsProven() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        var granted: [Hash] = []
        for categories in [["civil-status"], ["residence"], ["civil-status", "residence"]] {
            let grant = ledger.grant(categories: categories.map { try! DataCategory($0) })
            let outcome = try ledger.run(grant, by: ledger.citizen)
            #expect(outcome.code == .ok)
            granted.append(outcome.transactionHash)
        }
        let queries = LedgerQueries(backend: ledger.backend)
        let first = try queries.consentPage(subject: ledger.citizenDID, limit: 2)
        #expect(first.items.count == 2)
        let cursor = try #require(first.next, "a full page names where the next starts")
        let second = try queries.consentPage(subject: ledger.citizenDID, after: cursor, limit: 2)
        #expect(second.items.count == 1)
        #expect(second.next == nil)
        // The pages together are the whole list, in id order, each item proven.
        let paged = (first.items + second.items)
        #expect(paged.map(\.record.id) == granted.sorted())
        #expect(paged.allSatisfy { $0.proof.verify() })
        #expect(try queries.consents(subject: ledger.citizenDID).map(\.record.id) == granted.sorted())
        // A cursor from another list is refused, naming the problem.
        #expect(throws: StateError.self) { try queries.consentPage(consumer: ledger.consumerDID, after: cursor) }
        #expect(try queries.offerPage(limit: 0).next == nil)
    }

    @Test func proofsVerifyAndFailWhenTampered() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let consentID = try ledger.run(ledger.grant(), by: ledger.citizen).transactionHash
        let queries = LedgerQueries(backend: ledger.backend)
        let consent = try #require(try queries.consent(consentID))
        #expect(consent.proof.verify())
        #expect(consent.proof.root == ledger.backend.stateRoot)
        var tampered = consent.proof.value!
        tampered[tampered.count - 1] ^= 1
        #expect(
            !StateProof(key: consent.proof.key, value: tampered, root: consent.proof.root, proof: consent.proof.proof).verify())
        #expect(
            !StateProof(key: consent.proof.key, value: consent.proof.value, root: Hash.sha256([1]), proof: consent.proof.proof)
                .verify())
        // Absence is provable too, and a forged presence is not.
        let absent = try queries.proof(forKey: StateKey.consent(Hash.sha256([7])))
        #expect(absent.value == nil)
        #expect(absent.verify())
        #expect(!StateProof(key: absent.key, value: [1], root: absent.root, proof: absent.proof).verify())
        // Lists return provable entries; the access count proves the log complete.
        #expect(try queries.consents(subject: ledger.citizenDID).map(\.record.id) == [consentID])
        #expect(try queries.consents(consumer: ledger.consumerDID).count == 1)
        let (credits, balanceProof) = try queries.balance(ledger.consumerDID)
        #expect(credits == LedgerFixture.initialCredits)
        #expect(balanceProof.verify())
        // An old root still proves what was true then.
        let oldRoot = ledger.backend.stateRootReference
        #expect(try ledger.run(ConsentRevoke(consentID: consentID), by: ledger.citizen).code == .ok)
        let old = try queries.proof(forKey: StateKey.consent(consentID), root: oldRoot, valueAtRoot: .some(consent.proof.value))
        #expect(old.verify())
        let current = try #require(try queries.consent(consentID))
        #expect(current.record.revokedHeight != nil)
        #expect(current.proof.verify())
    }

    @Test func didHistoryAnswersAsOfAHeight() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let newKey = LedgerFixture.key("rotated")
        let rotate = DIDUpdate(
            did: ledger.citizenDID,
            operations: [.addKey(id: "key-2", publicKey: PublicKey(of: newKey), relationships: .all), .removeKey(id: "key-1")])
        #expect(try ledger.run(rotate, by: ledger.citizen).code == .ok)
        let queries = LedgerQueries(backend: ledger.backend)
        #expect(try queries.didHistory(ledger.citizenDID).map(\.record.version) == [1, 2])
        #expect(try queries.did(ledger.citizenDID, atHeight: 1)?.verificationMethods.map(\.id) == ["key-1"])
        #expect(try queries.did(ledger.citizenDID, atHeight: 2)?.verificationMethods.map(\.id) == ["key-2"])
        #expect(try queries.did(ledger.citizenDID, atHeight: 0) == nil)
    }
}
