import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

@Suite struct MarketTests {
    func totalCredits(_ ledger: LedgerFixture) -> UInt64 {
        let balances = [ledger.providerDID, ledger.consumerDID, ledger.citizenDID, ledger.citizen2DID].map(ledger.balance).reduce(
            0, +)
        return balances + (ledger.record(AmountRecord.self, StateKey.escrowTotal)?.value ?? 0)
    }

    func offer(_ ledger: LedgerFixture, subjects: [DID] = [], price: UInt64 = 500, deadline: UInt64 = 3) throws -> OfferCreate {
        OfferCreate(
            provider: ledger.providerDID, title: "Civil status extract", categories: LedgerFixture.categories("civil-status"),
            schemaHash: Hash.sha256(Array("schema".utf8)), price: price,
            license: try License(allowedPurposes: ["loan-assessment"], durationMilliseconds: 86_400_000, resaleAllowed: false),
            subjects: subjects, deliveryDeadlineBlocks: deadline)
    }

    @Test func transfersMoveCreditsAndRespectBalances() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let total = totalCredits(ledger)
        #expect(
            try ledger.run(Transfer(from: ledger.consumerDID, to: ledger.citizenDID, amount: 250), by: ledger.consumer).code
                == .ok)
        #expect(ledger.balance(ledger.citizenDID) == 250)
        #expect(
            try ledger.run(Transfer(from: ledger.citizenDID, to: ledger.citizen2DID, amount: 251), by: ledger.citizen).code
                == .insufficientFunds)
        #expect(
            try ledger.run(Transfer(from: ledger.citizenDID, to: ledger.citizenDID, amount: 1), by: ledger.citizen).code
                == .selfTransfer)
        #expect(
            try ledger.run(Transfer(from: ledger.consumerDID, to: ledger.citizenDID, amount: 1), by: ledger.citizen).code
                == .notAuthorized)
        let nobody = DID(initialKey: PublicKey(of: LedgerFixture.key("nobody")))
        #expect(try ledger.run(Transfer(from: ledger.citizenDID, to: nobody, amount: 1), by: ledger.citizen).code == .didNotFound)
        #expect(totalCredits(ledger) == total)
    }

    @Test func anOrderEscrowsDeliversAndPays() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let total = totalCredits(ledger)
        let offerID = try ledger.run(try offer(ledger), by: ledger.provider).transactionHash
        #expect(ledger.record(OfferRecord.self, StateKey.offer(offerID)) != nil)
        let placed = try ledger.run(
            OrderPlace(consumer: ledger.consumerDID, offerID: offerID, purposeCode: "loan-assessment", consentIDs: []),
            by: ledger.consumer)
        #expect(placed.code == .ok, "\(placed.message)")
        let orderID = placed.transactionHash
        #expect(ledger.balance(ledger.consumerDID) == LedgerFixture.initialCredits - 500)
        #expect(ledger.record(AmountRecord.self, StateKey.escrowTotal)?.value == 500)
        #expect(totalCredits(ledger) == total)

        #expect(try ledger.run(OrderConfirm(id: orderID), by: ledger.consumer).code == .orderWrongStatus)
        #expect(
            try ledger.run(OrderDeliver(orderID: orderID, packageHash: Hash.sha256([9])), by: ledger.consumer).code
                == .notAuthorized)
        #expect(try ledger.run(OrderDeliver(orderID: orderID, packageHash: Hash.sha256([9])), by: ledger.provider).code == .ok)
        #expect(try ledger.run(OrderRefund(id: orderID), by: ledger.consumer).code == .orderWrongStatus)
        #expect(try ledger.run(OrderConfirm(id: orderID), by: ledger.consumer).code == .ok)
        #expect(ledger.balance(ledger.providerDID) == LedgerFixture.initialCredits + 500)
        #expect(ledger.record(OrderRecord.self, StateKey.order(orderID))?.status == .confirmed)
        #expect(ledger.record(AmountRecord.self, StateKey.escrowTotal)?.value == 0)
        #expect(totalCredits(ledger) == total)
    }

    @Test func anUndeliveredOrderIsRefundedOnlyAfterItsDeadline() throws {
        let ledger = LedgerFixture()
        let offerID = try ledger.run(try offer(ledger, deadline: 2), by: ledger.provider).transactionHash
        let orderID = try ledger.run(
            OrderPlace(consumer: ledger.consumerDID, offerID: offerID, purposeCode: "loan-assessment", consentIDs: []),
            by: ledger.consumer
        ).transactionHash
        let placedHeight = ledger.height
        #expect(try ledger.run(OrderRefund(id: orderID), by: ledger.consumer).code == .deadlineNotPassed)  // placed + 1
        // placed + 2: the last height at which delivery is on time.
        #expect(try ledger.run(OrderRefund(id: orderID), by: ledger.consumer).code == .deadlineNotPassed)
        #expect(try ledger.run(OrderRefund(id: orderID), by: ledger.consumer).code == .ok)  // placed + 3
        #expect(ledger.height == placedHeight + 3)
        #expect(ledger.balance(ledger.consumerDID) == LedgerFixture.initialCredits)
        #expect(ledger.record(OrderRecord.self, StateKey.order(orderID))?.status == .refunded)
        #expect(try ledger.run(OrderDeliver(orderID: orderID, packageHash: .zero), by: ledger.provider).code == .orderWrongStatus)
    }

    @Test func aDeliveryAfterTheDeadlineIsRefused() throws {
        let ledger = LedgerFixture()
        let offerID = try ledger.run(try offer(ledger, deadline: 1), by: ledger.provider).transactionHash
        let orderID = try ledger.run(
            OrderPlace(consumer: ledger.consumerDID, offerID: offerID, purposeCode: "loan-assessment", consentIDs: []),
            by: ledger.consumer
        ).transactionHash
        try ledger.block([])  // placed + 1: the deadline itself
        #expect(
            try ledger.run(OrderDeliver(orderID: orderID, packageHash: .zero), by: ledger.provider).code
                == .deliveryDeadlinePassed)
        #expect(try ledger.run(OrderRefund(id: orderID), by: ledger.consumer).code == .ok)
    }

    @Test func personalDataNeedsEverySubjectsConsent() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let subjects = [ledger.citizenDID, ledger.citizen2DID].sorted()
        let offerID = try ledger.run(try offer(ledger, subjects: subjects), by: ledger.provider).transactionHash
        func place(_ consents: [Hash], purpose: String = "loan-assessment") throws -> TransactionResultCode {
            try ledger.run(
                OrderPlace(consumer: ledger.consumerDID, offerID: offerID, purposeCode: purpose, consentIDs: consents),
                by: ledger.consumer
            ).code
        }
        #expect(try place([]) == .subjectConsentMissing)
        #expect(try place([], purpose: "marketing") == .purposeNotLicensed)
        var consentBySubject: [DID: Hash] = [:]
        consentBySubject[ledger.citizenDID] = try ledger.run(ledger.grant(), by: ledger.citizen).transactionHash
        consentBySubject[ledger.citizen2DID] = try ledger.run(ledger.grant(subject: ledger.citizen2DID), by: ledger.citizen2)
            .transactionHash
        let ordered = subjects.map { consentBySubject[$0]! }
        #expect(try place(ordered.reversed()) == .consentMismatch)
        #expect(try ledger.run(ConsentRevoke(consentID: consentBySubject[ledger.citizen2DID]!), by: ledger.citizen2).code == .ok)
        #expect(try place(ordered) == .consentRevoked)
        consentBySubject[ledger.citizen2DID] = try ledger.run(ledger.grant(subject: ledger.citizen2DID), by: ledger.citizen2)
            .transactionHash
        #expect(try place(subjects.map { consentBySubject[$0]! }) == .ok)
    }

    @Test func closedOffersAndPoorBuyersAreRefused() throws {
        let ledger = LedgerFixture()
        let expensive = try ledger.run(try offer(ledger, price: LedgerFixture.initialCredits + 1), by: ledger.provider)
            .transactionHash
        #expect(
            try ledger.run(
                OrderPlace(consumer: ledger.consumerDID, offerID: expensive, purposeCode: "loan-assessment", consentIDs: []),
                by: ledger.consumer
            ).code == .insufficientFunds)
        #expect(try ledger.run(OfferClose(id: expensive), by: ledger.consumer).code == .notAuthorized)
        #expect(try ledger.run(OfferClose(id: expensive), by: ledger.provider).code == .ok)
        #expect(try ledger.run(OfferClose(id: expensive), by: ledger.provider).code == .offerClosed)
        #expect(
            try ledger.run(
                OrderPlace(consumer: ledger.consumerDID, offerID: expensive, purposeCode: "loan-assessment", consentIDs: []),
                by: ledger.consumer
            ).code == .offerClosed)
        // Only a registered provider may offer; only a registered consumer may buy.
        #expect(try ledger.run(try offer(ledger), by: ledger.consumer).code == .notAuthorized)
        let offerID = try ledger.run(try offer(ledger), by: ledger.provider).transactionHash
        #expect(
            try ledger.run(
                OrderPlace(consumer: ledger.providerDID, offerID: offerID, purposeCode: "loan-assessment", consentIDs: []),
                by: ledger.provider
            ).code == .missingRole)
    }
}
