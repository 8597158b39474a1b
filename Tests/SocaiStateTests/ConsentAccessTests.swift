import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

@Suite struct ConsentAccessTests {
    func access(
        _ ledger: LedgerFixture, _ consentID: Hash, categories: [DataCategory] = LedgerFixture.categories("civil-status"),
        purposeCode: String = "loan-assessment"
    ) -> AccessRecord {
        AccessRecord(
            consentID: consentID, provider: ledger.providerDID, consumer: ledger.consumerDID, categories: categories,
            purposeCode: purposeCode,
            deliveredHash: Hash.sha256(Array("record".utf8)))
    }

    @Test func grantAccessRevokeAndTheAccessLog() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let grant = try ledger.run(ledger.grant(), by: ledger.citizen)
        #expect(grant.code == .ok, "\(grant.message)")
        let consentID = grant.transactionHash
        #expect(
            ledger.record(ConsentRecord.self, StateKey.consent(consentID))?.grant
                == ledger.grant(
                    from: LedgerFixture.genesisTimeMilliseconds + 1_000,
                    until: LedgerFixture.genesisTimeMilliseconds + 1_000 + 86_400_000))
        #expect(try ledger.backend.value(forKey: StateKey.consentBySubject(ledger.citizenDID, consentID)) == [])
        #expect(try ledger.backend.value(forKey: StateKey.consentByConsumer(ledger.consumerDID, consentID)) == [])

        let first = try ledger.run(access(ledger, consentID), by: ledger.provider)
        #expect(first.code == .ok, "\(first.message)")
        let entry = try #require(ledger.record(AccessLogEntry.self, StateKey.access(ledger.citizenDID, 1)))
        #expect(entry.transactionHash == first.transactionHash)
        #expect(entry.access.consumer == ledger.consumerDID)
        #expect(ledger.record(ConsentRecord.self, StateKey.consent(consentID))?.accessCount == 1)

        #expect(try ledger.run(ConsentRevoke(consentID: consentID), by: ledger.citizen2).code == .notAuthorized)
        #expect(try ledger.run(ConsentRevoke(consentID: consentID), by: ledger.citizen).code == .ok)
        #expect(try ledger.run(access(ledger, consentID), by: ledger.provider).code == .consentRevoked)
        #expect(try ledger.run(ConsentRevoke(consentID: consentID), by: ledger.citizen).code == .consentRevoked)
        // The access made before revocation stays on record.
        #expect(ledger.record(AccessLogEntry.self, StateKey.access(ledger.citizenDID, 1)) == entry)
        #expect(ledger.record(AmountRecord.self, StateKey.accessCount(ledger.citizenDID))?.value == 1)
    }

    @Test func accessIsRefusedOutsideTheConsent() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let now = ledger.timeMilliseconds
        let future = try ledger.run(ledger.grant(from: now + 100_000, until: now + 200_000), by: ledger.citizen).transactionHash
        let shortLived = try ledger.run(ledger.grant(from: now, until: now + 3_000), by: ledger.citizen).transactionHash
        let limited = try ledger.run(ledger.grant(accessesMax: 1), by: ledger.citizen).transactionHash
        let open = try ledger.run(ledger.grant(), by: ledger.citizen).transactionHash
        let other = try ledger.run(ledger.grant(subject: ledger.citizen2DID), by: ledger.citizen2).transactionHash

        #expect(try ledger.run(access(ledger, future), by: ledger.provider).code == .consentNotYetValid)
        #expect(
            try ledger.run(access(ledger, shortLived), by: ledger.provider, advanceMilliseconds: 5_000).code == .consentExpired)
        #expect(try ledger.run(access(ledger, limited), by: ledger.provider).code == .ok)
        #expect(try ledger.run(access(ledger, limited), by: ledger.provider).code == .accessLimitReached)
        #expect(
            try ledger.run(access(ledger, open, categories: LedgerFixture.categories("health.records")), by: ledger.provider).code
                == .categoriesNotCovered)
        #expect(try ledger.run(access(ledger, open, purposeCode: "marketing"), by: ledger.provider).code == .consentMismatch)
        #expect(try ledger.run(access(ledger, Hash.sha256([1])), by: ledger.provider).code == .consentNotFound)
        // Only the consent's provider, with its own key, may record an access.
        #expect(try ledger.run(access(ledger, open), by: ledger.consumer).code == .notAuthorized)
        #expect(try ledger.run(access(ledger, other), by: ledger.provider).code == .ok)
        // The access log is per subject.
        #expect(ledger.record(AmountRecord.self, StateKey.accessCount(ledger.citizenDID))?.value == 1)
        #expect(ledger.record(AmountRecord.self, StateKey.accessCount(ledger.citizen2DID))?.value == 1)
    }

    @Test func grantsAreCheckedAgainstRolesValidityAndRequests() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let now = ledger.timeMilliseconds
        #expect(try ledger.run(ledger.grant(from: now + 10, until: now + 5), by: ledger.citizen).code == .invalidValidity)
        #expect(try ledger.run(ledger.grant(accessesMax: 0), by: ledger.citizen).code == .invalidValidity)
        // The consumer must have the consumer role and the provider the provider role.
        let swapped = ConsentGrant(
            subject: ledger.citizenDID, consumer: ledger.providerDID, provider: ledger.consumerDID, purpose: ledger.purpose(),
            categories: LedgerFixture.categories("tax"), mode: .query, validFromMilliseconds: now,
            validUntilMilliseconds: now + 100_000)
        #expect(try ledger.run(swapped, by: ledger.citizen).code == .missingRole)
        // Someone else's grant in the citizen's name.
        #expect(try ledger.run(ledger.grant(), by: ledger.citizen2).code == .notAuthorized)

        let request = ConsentRequest(
            consumer: ledger.consumerDID, subject: ledger.citizenDID, provider: ledger.providerDID, purpose: ledger.purpose(),
            categories: LedgerFixture.categories("civil-status", "residence", "tax"), mode: .view,
            validUntilMilliseconds: now + 1_000_000)
        let requested = try ledger.run(request, by: ledger.consumer)
        #expect(requested.code == .ok, "\(requested.message)")
        let answering = ConsentGrant(
            subject: ledger.citizenDID, consumer: ledger.consumerDID, provider: ledger.providerDID, purpose: ledger.purpose(),
            categories: LedgerFixture.categories("civil-status"), mode: .view, validFromMilliseconds: now,
            validUntilMilliseconds: now + 500_000, requestID: requested.transactionHash)
        #expect(try ledger.run(answering, by: ledger.citizen).code == .ok)
        let overreaching = ConsentGrant(
            subject: ledger.citizenDID, consumer: ledger.consumerDID, provider: ledger.providerDID, purpose: ledger.purpose(),
            categories: LedgerFixture.categories("land"), mode: .view, validFromMilliseconds: now,
            validUntilMilliseconds: now + 500_000,
            requestID: requested.transactionHash)
        #expect(try ledger.run(overreaching, by: ledger.citizen).code == .requestMismatch)
        #expect(try ledger.run(request, by: ledger.citizen).code == .notAuthorized)
    }

    @Test func aDeactivatedSubjectsConsentsStopWorking() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let consentID = try ledger.run(ledger.grant(), by: ledger.citizen).transactionHash
        #expect(try ledger.run(DIDDeactivate(did: ledger.citizenDID), by: ledger.citizen).code == .ok)
        #expect(try ledger.run(access(ledger, consentID), by: ledger.provider).code == .didDeactivated)
    }

    @Test func aSuspendedOrganizationCannotRecordOrReceiveAccesses() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let consentID = try ledger.run(ledger.grant(), by: ledger.citizen).transactionHash
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: .suspendOrganization(did: ledger.consumerDID)), by: ledger.governanceKeys[0]
            ).code == .ok)
        #expect(try ledger.run(access(ledger, consentID), by: ledger.provider).code == .organizationSuspended)
        #expect(
            try ledger.run(
                Governance(sequence: 2, action: .reinstateOrganization(did: ledger.consumerDID)), by: ledger.governanceKeys[0]
            ).code == .ok)
        #expect(try ledger.run(access(ledger, consentID), by: ledger.provider).code == .ok)
    }
}
