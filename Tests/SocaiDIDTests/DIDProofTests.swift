import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiDID

/// The answer a node gives for `options` at the fixture's tip, with its proof (and the
/// validator changes `changes` a client needs to trust that tip's certificate).
func provenAnswer(
    _ fixture: DIDFixture, _ options: DIDResolutionOptions = .init(), changes: [DIDResolutionProof.ValidatorChange] = []
) throws -> DIDResolutionResult {
    let outcome = DIDResolver.resolve(fixture.aliceDID.value, options: options, ledger: fixture.queries, withProof: true)
    guard case .resolved(var result, let entry?) = outcome else {
        Issue.record("alice's DID did not resolve with a proof entry")
        return outcome.result
    }
    let header = try #require(fixture.headers.last)
    let certificate = try #require(fixture.certificates.last)
    result.didResolutionMetadata.proof = DIDResolutionProof(
        entry: entry, header: header, certificate: certificate, validatorChanges: changes)
    return result
}

/// Proofs a client that trusts only the genesis file can check (docs/FORMAT.md §29).
@Suite struct DIDProofTests {
    /// `text` with the hex digit at `index` changed.
    func flip(_ text: String, at index: Int) -> String {
        var characters = Array(text)
        characters[index] = characters[index] == "0" ? "1" : "0"
        return String(characters)
    }

    func failure(_ result: DIDResolutionResult, _ fixture: DIDFixture) -> DIDProofVerifier.Failure.Code? {
        do throws(DIDProofVerifier.Failure) {
            try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis)
            return nil
        } catch { return error.code }
    }

    @Test func proofVerifiesAndFailsWhenAnyPartChanges() throws {
        let fixture = DIDFixture()
        fixture.buildHistory(deactivate: false)
        let answer = try provenAnswer(fixture)
        #expect(try DIDProofVerifier.verify(answer, did: fixture.aliceDID, genesis: fixture.genesis) == 3)
        let proof = try #require(answer.didResolutionMetadata.proof)

        // One byte of the document: a different key, service or version number.
        var document = answer
        document.didDocument?.verificationMethod?[0].publicKeyMultibase = DIDKey.multibase(for: PublicKey(of: fixture.alice))
        #expect(failure(document, fixture) == .document)
        var service = answer
        service.didDocument?.service?[0].serviceEndpoint = "https://alice.examplf"
        #expect(failure(service, fixture) == .document)
        var metadata = answer
        metadata.didDocumentMetadata.versionId = "2"
        #expect(failure(metadata, fixture) == .document)

        // One byte of the proven value, of the state proof, of the header, of the certificate.
        for index in [0, proof.stateValue.count / 2, proof.stateValue.count - 1] {
            var changed = answer
            changed.didResolutionMetadata.proof?.stateValue = flip(proof.stateValue, at: index)
            #expect(failure(changed, fixture) != nil, "state value digit \(index)")
        }
        for index in [10, proof.stateProof.count / 2, proof.stateProof.count - 1] {
            var changed = answer
            changed.didResolutionMetadata.proof?.stateProof = flip(proof.stateProof, at: index)
            #expect(failure(changed, fixture) != nil, "state proof digit \(index)")
        }
        for index in [5, proof.header.count / 2, proof.header.count - 1] {
            var changed = answer
            changed.didResolutionMetadata.proof?.header = flip(proof.header, at: index)
            #expect(failure(changed, fixture) != nil, "header digit \(index)")
        }
        for index in [3, 30, proof.certificate.count - 1] {
            var changed = answer
            changed.didResolutionMetadata.proof?.certificate = flip(proof.certificate, at: index)
            #expect(failure(changed, fixture) != nil, "certificate digit \(index)")
        }
        var stripped = answer
        stripped.didResolutionMetadata.proof = nil
        #expect(failure(stripped, fixture) == .missing)

        // Another chain's genesis does not accept the answer.
        let other = DIDFixture(chainID: try ChainID("socai-other"))
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(answer, did: fixture.aliceDID, genesis: other.genesis)
        }
    }

    @Test func olderVersionsAreProvenByTheirHistoryEntry() throws {
        let fixture = DIDFixture()
        fixture.buildHistory()
        let first = try provenAnswer(fixture, .init(versionId: "1"))
        #expect(try DIDProofVerifier.verify(first, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        #expect(first.didDocument?.verificationMethod?.first?.id == fixture.aliceDID.value + "#key-1")
        // The deactivated current version is proven too.
        let current = try provenAnswer(fixture)
        #expect(current.didDocumentMetadata.deactivated == true)
        #expect(try DIDProofVerifier.verify(current, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        // A version-1 document presented as the answer for version 2 fails.
        var swapped = try provenAnswer(fixture, .init(versionId: "2"))
        swapped.didDocument = first.didDocument
        #expect(failure(swapped, fixture) == .document)
    }

    /// The version before the latest is followed by the current document: format version 2
    /// keeps that under `did/d` alone, version 1 under its history key as well.
    @Test(arguments: Genesis.formatVersionsKnown)
    func theVersionBeforeTheLatestProvesTheCurrentOneAsItsNext(formatVersion: UInt8) throws {
        let fixture = DIDFixture(formatVersion: formatVersion)
        fixture.buildHistory()
        let latest = try #require(try fixture.queries.didRecord(fixture.aliceDID))
        #expect(latest.version >= 2)
        let before = try provenAnswer(fixture, .init(versionId: String(latest.version - 1)))
        #expect(before.didDocumentMetadata.nextVersionId == String(latest.version))
        #expect(try DIDProofVerifier.verify(before, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        let proof = try #require(before.didResolutionMetadata.proof)
        #expect(proof.stateKey == Hex.encode(StateKey.didVersion(fixture.aliceDID, latest.version - 1)))
        #expect(proof.nextStateValue == Hex.encode(latest.canonicalBytes))
        // The next version's value must be version v + 1 of this DID: version v itself, put
        // in its place, fails.
        var stale = before
        stale.didResolutionMetadata.proof?.nextStateValue = proof.stateValue
        #expect(failure(stale, fixture) != nil)
    }

    @Test func anOlderVersionProvesTheVersionAfterIt() throws {
        let fixture = DIDFixture()
        fixture.buildHistory()
        let first = try provenAnswer(fixture, .init(versionId: "1"))
        #expect(first.didDocumentMetadata.nextVersionId == "2")
        #expect(first.didResolutionMetadata.proof?.nextStateProof != nil)
        // Without the next version's proof, nextVersionId and nextUpdate are only claims.
        var bare = first
        bare.didResolutionMetadata.proof?.nextStateValue = nil
        bare.didResolutionMetadata.proof?.nextStateProof = nil
        #expect(failure(bare, fixture) == .stateProof)
        // A changed nextUpdate or nextVersionId, or a changed byte of the next proof, fails.
        var later = first
        later.didDocumentMetadata.nextUpdate = "2100-01-01T00:00:00Z"
        #expect(failure(later, fixture) == .document)
        var skipped = first
        skipped.didDocumentMetadata.nextVersionId = "3"
        #expect(failure(skipped, fixture) == .document)
        var flipped = first
        flipped.didResolutionMetadata.proof?.nextStateProof = flip(first.didResolutionMetadata.proof!.nextStateProof!, at: 70)
        #expect(failure(flipped, fixture) != nil)
        // The latest version has no next: a claimed one is refused.
        var current = try provenAnswer(fixture)
        #expect(current.didResolutionMetadata.proof?.nextStateProof == nil)
        #expect(try DIDProofVerifier.verify(current, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        current.didDocumentMetadata.nextVersionId = "5"
        #expect(failure(current, fixture) == .document)
        // A version chosen by time is proven with the version after it, so the choice holds:
        // its update is at or before the time asked, the next one's after.
        let byTime = try provenAnswer(fixture, .init(versionTime: first.didDocumentMetadata.updated))
        #expect(byTime.didDocumentMetadata.versionId == "1")
        #expect(try DIDProofVerifier.verify(byTime, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
    }

    @Test func validatorChangesMustBeVouchedForByThePreviousSet() throws {
        // The chain is committed by a set {validator, newcomer} that genesis does not list.
        let validator = DIDFixture.key("did validator")
        let newcomer = DIDFixture.key("did newcomer")
        let grown = try ValidatorSet([
            Validator(publicKey: PublicKey(of: validator), power: 10), Validator(publicKey: PublicKey(of: newcomer), power: 10),
        ])
        let fixture = DIDFixture(validatorSet: grown, signers: [validator, newcomer])
        fixture.buildHistory(deactivate: false)
        let change = DIDResolutionProof.ValidatorChange(
            header: fixture.headers[0], certificate: fixture.certificates[0], validatorSet: grown)
        #expect(failure(try provenAnswer(fixture), fixture) == .certificate)
        let answer = try provenAnswer(fixture, changes: [change])
        #expect(try DIDProofVerifier.verify(answer, did: fixture.aliceDID, genesis: fixture.genesis) == 3)

        // A set the genesis validator never signed for is not accepted.
        let strangers = [DIDFixture.key("stranger 1"), DIDFixture.key("stranger 2")]
        let foreign = try ValidatorSet(strangers.map { Validator(publicKey: PublicKey(of: $0), power: 10) })
        let hijacked = DIDFixture(validatorSet: foreign, signers: strangers)
        hijacked.buildHistory(deactivate: false)
        let forged = DIDResolutionProof.ValidatorChange(
            header: hijacked.headers[0], certificate: hijacked.certificates[0], validatorSet: foreign)
        #expect(failure(try provenAnswer(hijacked, changes: [forged]), hijacked) == .certificate)
    }
}

/// The node side: finding the validator changes among stored headers.
@Suite struct DIDValidatorChangeTests {
    @Test func changesAreFoundInHeadersAndVerify() throws {
        let fixture = DIDFixture()
        let validator = DIDFixture.key("did validator")
        let newcomer = DIDFixture.key("did newcomer")
        let grown = try ValidatorSet([
            Validator(publicKey: PublicKey(of: validator), power: 10), Validator(publicKey: PublicKey(of: newcomer), power: 10),
        ])
        let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://alice.example")
        fixture.block([fixture.sign(DIDCreate(did: fixture.aliceDID, services: [service]), with: fixture.alice)])
        fixture.block([])
        fixture.switchValidators(to: grown, signers: [validator, newcomer])
        fixture.block([])
        fixture.block([])
        let headers = zip(fixture.headers, fixture.certificates).map { (header: $0, certificate: $1) }
        #expect(DIDResolutionProof.findValidatorChanges(headers: headers, currentSet: nil) == nil)
        #expect(DIDResolutionProof.findValidatorChanges(headers: headers, currentSet: fixture.genesis.validatorSet) == nil)
        let changes = try #require(DIDResolutionProof.findValidatorChanges(headers: headers, currentSet: grown))
        #expect(changes.count == 1)
        #expect(changes.first?.header == Hex.encode(fixture.headers[2].canonicalBytes))
        #expect(DIDResolutionProof.findValidatorChanges(headers: Array(headers.prefix(2)), currentSet: nil)?.isEmpty == true)

        #expect(fixture.headers.count == 4)
        var result = try provenAnswer(fixture, changes: changes)
        #expect(try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        // Without the change, block 4's set is unknown to a client that trusts genesis.
        result.didResolutionMetadata.proof?.validatorChanges = []
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis)
        }
    }

    @Test func twoChangesAreProvenWithTheSetEachIntroduced() throws {
        let fixture = DIDFixture()
        let validator = DIDFixture.key("did validator")
        let newcomer = DIDFixture.key("did newcomer")
        let third = DIDFixture.key("did third")
        let grown = try ValidatorSet([
            Validator(publicKey: PublicKey(of: validator), power: 10), Validator(publicKey: PublicKey(of: newcomer), power: 10),
        ])
        let shifted = try ValidatorSet([
            Validator(publicKey: PublicKey(of: newcomer), power: 10), Validator(publicKey: PublicKey(of: third), power: 10),
        ])
        let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://alice.example")
        fixture.block([fixture.sign(DIDCreate(did: fixture.aliceDID, services: [service]), with: fixture.alice)])
        fixture.switchValidators(to: grown, signers: [validator, newcomer])
        fixture.block([])
        fixture.switchValidators(to: shifted, signers: [newcomer, third])
        fixture.block([])
        fixture.block([])
        var log = ValidatorChangeLog()
        for (header, certificate) in zip(fixture.headers, fixture.certificates) {
            log.append(header: header, certificate: certificate)
        }
        #expect(log.changeHeights(upTo: 4) == [2, 3])
        let sets: [UInt64: ValidatorSet] = [2: grown, 3: shifted]
        // A node that keeps only its current set cannot prove two changes.
        #expect(log.proofChanges(upTo: 4, currentSet: shifted) == nil)
        // A missing or wrong set is no proof either.
        #expect(log.proofChanges(upTo: 4) { $0 == 2 ? grown : nil } == nil)
        #expect(log.proofChanges(upTo: 4) { _ in grown } == nil)
        let changes = try #require(log.proofChanges(upTo: 4) { sets[$0] })
        #expect(changes.count == 2)

        #expect(fixture.headers.count == 4)
        var result = try provenAnswer(fixture, changes: changes)
        #expect(try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis) == 4)
        // Skipping the first change leaves the second vouched for by a set the client never
        // accepted: refused.
        result.didResolutionMetadata.proof?.validatorChanges = [changes[1]]
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis)
        }
    }

    @Test func aNotFoundAnswerIsProvenAbsentAndCannotBeFaked() throws {
        let fixture = DIDFixture()
        fixture.buildHistory(deactivate: false)
        let stranger = DID(initialKey: PublicKey(of: DIDFixture.key("did stranger")))
        let outcome = DIDResolver.resolve(stranger.value, ledger: fixture.queries, withProof: true)
        guard case .absent(let notFound, let entry?) = outcome else {
            Issue.record("a DID with no document did not resolve as absent with a proof")
            return
        }
        #expect(notFound.error == .notFound)
        #expect(entry.proof.value == nil && entry.proof.verify())
        let last = fixture.headers.count - 1
        var result = outcome.result
        result.didResolutionMetadata.proof = DIDResolutionProof(
            entry: entry, header: fixture.headers[last], certificate: fixture.certificates[last], validatorChanges: [])
        #expect(try DIDProofVerifier.verify(result, did: stranger, genesis: fixture.genesis) == UInt64(last + 1))

        // The same proof does not make an existing DID absent: its key is another, and alice's
        // own absence cannot be proven because her document is in the state.
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(result, did: fixture.aliceDID, genesis: fixture.genesis)
        }
        var forged = result
        forged.didResolutionMetadata.proof?.stateKey = Hex.encode(StateKey.did(fixture.aliceDID))
        #expect(DIDProofTests().failure(forged, fixture) == .stateProof)
        // Any changed byte of the proof breaks it.
        var flipped = result
        flipped.didResolutionMetadata.proof?.stateProof = DIDProofTests().flip(
            result.didResolutionMetadata.proof!.stateProof, at: 70)
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(flipped, did: stranger, genesis: fixture.genesis)
        }
        // An absence proof cannot carry a document, or a value.
        var withValue = result
        withValue.didResolutionMetadata.proof?.stateValue = "00"
        #expect(throws: DIDProofVerifier.Failure.self) {
            try DIDProofVerifier.verify(withValue, did: stranger, genesis: fixture.genesis)
        }
    }
}
