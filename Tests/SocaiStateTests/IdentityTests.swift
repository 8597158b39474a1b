import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

@Suite struct IdentityTests {
    @Test(arguments: Genesis.formatVersionsKnown)
    func createsADIDFromTheSignersKey(formatVersion: UInt8) throws {
        let ledger = LedgerFixture(formatVersion: formatVersion)
        let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://example.vn")
        let outcome = try ledger.run(DIDCreate(did: ledger.citizenDID, services: [service]), by: ledger.citizen)
        #expect(outcome.code == .ok, "\(outcome.message)")
        let record = try #require(ledger.record(DIDRecord.self, StateKey.did(ledger.citizenDID)))
        #expect(record.version == 1)
        #expect(record.verificationMethods.map(\.publicKey) == [PublicKey(of: ledger.citizen)])
        #expect(record.services == [service])
        #expect(record.createdHeight == 1)
        // Format version 1 also files the current version in the history; version 2 files
        // only superseded versions there, so a new DID has no history entry.
        let history = ledger.record(DIDRecord.self, StateKey.didVersion(ledger.citizenDID, 1))
        #expect(history == (formatVersion == 1 ? record : nil))
        // Either way, version 1 reads as the current record.
        let queries = LedgerQueries(backend: ledger.backend)
        #expect(try queries.didRecord(ledger.citizenDID, version: 1) == record)
        #expect(try queries.did(ledger.citizenDID, version: 1)?.record == record)
        #expect(try queries.did(ledger.citizenDID, version: 1)?.proof.verify() == true)
        #expect(try queries.didRecord(ledger.citizenDID, version: 2) == nil)
        #expect(try queries.did(ledger.citizenDID, version: 2) == nil)
        #expect(try queries.didHistory(ledger.citizenDID).map(\.record) == [record])
        #expect(ledger.citizenDID.value.hasPrefix("did:socai:"))
    }

    @Test func rejectsAnotherKeysDIDAndADuplicate() throws {
        let ledger = LedgerFixture()
        #expect(try ledger.run(DIDCreate(did: ledger.citizen2DID), by: ledger.citizen).code == .didMismatch)
        #expect(try ledger.run(DIDCreate(did: ledger.citizenDID), by: ledger.citizen).code == .ok)
        #expect(try ledger.run(DIDCreate(did: ledger.citizenDID), by: ledger.citizen).code == .didAlreadyExists)
    }

    @Test(arguments: Genesis.formatVersionsKnown)
    func rotatesKeysKeepingHistory(formatVersion: UInt8) throws {
        let ledger = LedgerFixture(formatVersion: formatVersion)
        try ledger.createCitizens()
        let newKey = LedgerFixture.key("citizen a rotated")
        let rotate = DIDUpdate(
            did: ledger.citizenDID,
            operations: [.addKey(id: "key-2", publicKey: PublicKey(of: newKey), relationships: .all), .removeKey(id: "key-1")])
        #expect(try ledger.run(rotate, by: ledger.citizen).code == .ok)
        let current = try #require(ledger.record(DIDRecord.self, StateKey.did(ledger.citizenDID)))
        #expect(current.version == 2)
        #expect(current.verificationMethods.map(\.id) == ["key-2"])
        // The old key no longer acts for the DID; the new one does.
        let service = try DIDService(id: "inbox", type: "DIDCommMessaging", endpoint: "https://a.example")
        #expect(
            try ledger.run(DIDUpdate(did: ledger.citizenDID, operations: [.addService(service)]), by: ledger.citizen).code
                == .notAuthorized)
        #expect(try ledger.run(DIDUpdate(did: ledger.citizenDID, operations: [.addService(service)]), by: newKey).code == .ok)
        // Version 1 still holds the rotated-out key.
        let first = try #require(ledger.record(DIDRecord.self, StateKey.didVersion(ledger.citizenDID, 1)))
        #expect(first.verificationMethods.map(\.publicKey) == [PublicKey(of: ledger.citizen)])
        #expect(first.version == 1)
        let second = try #require(ledger.record(DIDRecord.self, StateKey.didVersion(ledger.citizenDID, 2)))
        #expect(second.version == 2 && second.verificationMethods.map(\.id) == ["key-2"])
        let latest = try #require(ledger.record(DIDRecord.self, StateKey.did(ledger.citizenDID)))
        #expect(latest.version == 3 && latest.services == [service])
        // Only format version 1 also files the current version (3) in the history.
        let third = ledger.record(DIDRecord.self, StateKey.didVersion(ledger.citizenDID, 3))
        #expect(third == (formatVersion == 1 ? latest : nil))
        // The queries read the same three versions from either layout, each with a proof.
        let queries = LedgerQueries(backend: ledger.backend)
        let history = try queries.didHistory(ledger.citizenDID)
        #expect(history.map(\.record) == [first, second, latest])
        #expect(history.allSatisfy { $0.proof.verify() })
        #expect(try queries.didRecord(ledger.citizenDID, version: 3) == latest)
        #expect(try queries.did(ledger.citizenDID, version: 2)?.record == second)
        #expect(try queries.didHistory(ledger.citizenDID, limit: 2).map(\.record) == [first, second])
    }

    @Test func rejectsInvalidDocuments() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let did = ledger.citizenDID
        let cases: [(DIDUpdate, String)] = [
            (DIDUpdate(did: did, operations: [.removeKey(id: "key-1")]), "no authentication key left"),
            (DIDUpdate(did: did, operations: [.removeKey(id: "key-9")]), "unknown key"),
            (DIDUpdate(did: did, operations: [.removeService(id: "none")]), "unknown service"),
            (
                DIDUpdate(
                    did: did,
                    operations: [.addKey(id: "key-1", publicKey: PublicKey(of: ledger.citizen2), relationships: .authentication)]),
                "duplicate id"
            ),
            (
                DIDUpdate(
                    did: did,
                    operations: [.addKey(id: "key-2", publicKey: PublicKey(of: ledger.citizen), relationships: .authentication)]),
                "duplicate key"
            ),
            (
                DIDUpdate(
                    did: did,
                    operations: [
                        .addKey(id: "key-2", publicKey: PublicKey(of: ledger.citizen2), relationships: .assertionMethod),
                        .removeKey(id: "key-1"),
                    ]),
                "only an assertion key left"
            ),
        ]
        for (update, label) in cases {
            let outcome = try ledger.run(update, by: ledger.citizen)
            #expect(outcome.code == .invalidDocument, "\(label): \(outcome.message)")
        }
        #expect(ledger.record(DIDRecord.self, StateKey.did(did))?.version == 1)
        #expect(
            try ledger.run(DIDUpdate(did: ledger.citizen2DID, operations: [.removeService(id: "x")]), by: ledger.citizen).code
                == .notAuthorized)
        let unknown = DID(initialKey: PublicKey(of: LedgerFixture.key("nobody")))
        #expect(try ledger.run(DIDDeactivate(did: unknown), by: ledger.citizen).code == .didNotFound)
    }

    @Test func deactivationIsFinal() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        #expect(try ledger.run(DIDDeactivate(did: ledger.citizenDID), by: ledger.citizen2).code == .notAuthorized)
        #expect(try ledger.run(DIDDeactivate(did: ledger.citizenDID), by: ledger.citizen).code == .ok)
        let record = try #require(ledger.record(DIDRecord.self, StateKey.did(ledger.citizenDID)))
        #expect(record.deactivated)
        #expect(record.version == 2)
        #expect(try ledger.run(DIDDeactivate(did: ledger.citizenDID), by: ledger.citizen).code == .didDeactivated)
        #expect(try ledger.run(ledger.grant(), by: ledger.citizen).code == .didDeactivated)
    }
}

@Suite struct NonceAndEnvelopeTests {
    @Test func aReplayedTransactionIsRejectedAndChangesNothing() throws {
        let ledger = LedgerFixture()
        let create = ledger.transaction(DIDCreate(did: ledger.citizenDID), by: ledger.citizen)
        #expect(try ledger.block([create]).outcomes[0].code == .ok)
        let rootBefore = ledger.backend.stateRoot
        let replay = try ledger.block([create])
        #expect(replay.outcomes[0].code == .badNonce)
        #expect(replay.changes.values.isEmpty)
        #expect(ledger.backend.stateRoot == rootBefore)
    }

    @Test func aForgedSignatureChangesNothingNotEvenTheNonce() throws {
        let ledger = LedgerFixture()
        var forged = ledger.transaction(DIDCreate(did: ledger.citizenDID), by: ledger.citizen)
        var signature = forged.signature.bytes
        signature[5] ^= 0x01
        forged.signature = try Signature(signature)
        let execution = try ledger.block([forged])
        #expect(execution.outcomes[0].code == .invalidSignature)
        #expect(execution.changes.values.isEmpty)
        #expect(ledger.nextNonce(ledger.citizen) == 1)
    }

    @Test func aFailedRuleConsumesOnlyTheNonce() throws {
        let ledger = LedgerFixture()
        let outcome = try ledger.run(DIDCreate(did: ledger.citizen2DID), by: ledger.citizen)
        #expect(outcome.code == .didMismatch)
        #expect(ledger.nextNonce(ledger.citizen) == 2)
        #expect(ledger.record(DIDRecord.self, StateKey.did(ledger.citizen2DID)) == nil)
        let stored = try #require(ledger.record(TransactionOutcomeRecord.self, StateKey.transaction(outcome.transactionHash)))
        #expect(stored.code == .didMismatch)
        #expect(stored.height == 1)
    }

    @Test func unknownKindsAndMalformedPayloadsAreRecorded() throws {
        let ledger = LedgerFixture()
        let unknown = try TransactionEnvelope.signed(
            chainID: LedgerFixture.chainID, key: ledger.citizen, nonce: 1, kind: 999, payload: [1])
        let malformed = try TransactionEnvelope.signed(
            chainID: LedgerFixture.chainID, key: ledger.citizen, nonce: 2, kind: TransactionKind.didCreate.rawValue,
            payload: [0xff])
        let outcomes = try ledger.block([unknown, malformed]).outcomes
        #expect(outcomes.map(\.code) == [.unknownKind, .malformedPayload])
        #expect(ledger.nextNonce(ledger.citizen) == 3)
    }

    @Test func nonceOrderWithinABlockMatters() throws {
        let ledger = LedgerFixture()
        let first = ledger.transaction(DIDCreate(did: ledger.citizenDID), by: ledger.citizen)
        let service = try DIDService(id: "x", type: "T", endpoint: "https://x")
        let second = ledger.transaction(
            DIDUpdate(did: ledger.citizenDID, operations: [.addService(service)]), by: ledger.citizen, nonceOffset: 1)
        #expect(try ledger.block([second, first]).outcomes.map(\.code) == [.badNonce, .ok])
    }
}
