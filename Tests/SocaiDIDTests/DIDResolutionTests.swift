import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiDID

/// did:socai resolution from ledger state: current, versioned and timed, and every error.
@Suite struct DIDResolutionTests {
    /// Resolves without and with a proof; the answers must not differ otherwise.
    func resolve(_ fixture: DIDFixture, _ did: String, _ options: DIDResolutionOptions = .init()) -> DIDResolutionResult {
        let plain = DIDResolver.resolve(did, options: options, ledger: fixture.queries).result
        let proven = DIDResolver.resolve(did, options: options, ledger: fixture.queries, withProof: true)
        #expect(proven.result == plain)
        if case .resolved(_, let entry) = proven, did.hasPrefix("did:socai:") { #expect(entry?.proof.verify() == true) }
        return plain
    }

    func methodIDs(_ document: DIDDocument?) -> [String] { document?.verificationMethod?.map(\.id) ?? [] }

    @Test func currentDocumentHasTheLedgerKeysAndServices() throws {
        let fixture = DIDFixture()
        fixture.buildHistory(deactivate: false)
        let did = fixture.aliceDID.value
        let result = resolve(fixture, did)
        #expect(result.httpStatus == 200)
        let document = try #require(result.didDocument)
        #expect(document.id == did)
        #expect(document.controller == did)
        #expect(document.context == [DIDDocument.didContext, DIDDocument.multikeyContext])
        #expect(methodIDs(document) == [did + "#key-3"])
        #expect(document.verificationMethod?.first?.type == "Multikey")
        #expect(
            document.verificationMethod?.first?.publicKeyMultibase == DIDKey.multibase(for: PublicKey(of: fixture.aliceThird)))
        #expect(document.authentication == [did + "#key-3"])
        #expect(document.assertionMethod == [])
        #expect(document.service == [.init(id: did + "#hub", type: "LinkedDomains", serviceEndpoint: "https://alice.example")])
        let metadata = result.didDocumentMetadata
        #expect(metadata.versionId == "3")
        #expect(metadata.created == DIDTime.format(milliseconds: DIDFixture.time(ofBlock: 1)))
        #expect(metadata.updated == DIDTime.format(milliseconds: DIDFixture.time(ofBlock: 3)))
        #expect(metadata.created == "2023-11-14T22:14:20Z")
        #expect(metadata.nextVersionId == nil && metadata.nextUpdate == nil && metadata.deactivated == nil)
        // Sorted keys and unescaped slashes: `@context` first, URLs as written.
        let text = String(decoding: DIDJSON.encode(document), as: UTF8.self)
        #expect(text.hasPrefix("{\"@context\":[\"https://www.w3.org/ns/did/v1\""))
    }

    @Test func versionsAcrossTwoRotationsAndADeactivation() throws {
        let fixture = DIDFixture()
        fixture.buildHistory()
        let did = fixture.aliceDID.value
        let current = resolve(fixture, did)
        #expect(current.httpStatus == 410)
        #expect(current.didDocumentMetadata.deactivated == true)
        #expect(current.didDocumentMetadata.versionId == "4")
        #expect(current.didDocument == DIDDocument.deactivated(did))

        let first = resolve(fixture, did, .init(versionId: "1"))
        #expect(first.httpStatus == 200)
        #expect(methodIDs(first.didDocument) == [did + "#key-1"])
        #expect(first.didDocumentMetadata.nextVersionId == "2")
        #expect(first.didDocumentMetadata.nextUpdate == DIDTime.format(milliseconds: DIDFixture.time(ofBlock: 2)))

        // The rotated-out key resolves in the older version and is absent from the newer one.
        let second = resolve(fixture, did, .init(versionId: "2"))
        #expect(methodIDs(second.didDocument) == [did + "#key-2"])
        #expect(second.didDocument?.assertionMethod == [did + "#key-2"])
        let third = resolve(fixture, did + "?versionId=3")
        #expect(methodIDs(third.didDocument) == [did + "#key-3"])
        #expect(third.didDocument?.assertionMethod == [])
        #expect(third.didDocumentMetadata.nextVersionId == "4")

        // versionTime picks the last version made at or before it.
        let atSecond = DIDTime.format(milliseconds: DIDFixture.time(ofBlock: 2) + 30_000)
        #expect(resolve(fixture, did, .init(versionTime: atSecond)).didDocumentMetadata.versionId == "2")
        let exactlyThird = DIDTime.format(milliseconds: DIDFixture.time(ofBlock: 3))
        #expect(resolve(fixture, did, .init(versionTime: exactlyThird)).didDocumentMetadata.versionId == "3")
        #expect(resolve(fixture, did, .init(versionTime: "2099-01-01T00:00:00Z")).httpStatus == 410)
        let beforeCreation = resolve(fixture, did, .init(versionTime: "2023-11-14T22:14:19Z"))
        #expect(beforeCreation.didResolutionMetadata.error == .notFound)
        // A time with an offset is the same instant in UTC.
        let offset = resolve(fixture, did, .init(versionTime: "2023-11-15T05:15:30+07:00"))
        #expect(offset.didDocumentMetadata.versionId == "2")
    }

    @Test func everyErrorHasItsCodeAndStatus() {
        let fixture = DIDFixture()
        fixture.buildHistory()
        let did = fixture.aliceDID.value
        let cases: [(String, DIDResolutionOptions, DIDResolutionError)] = [
            ("not a did", .init(), .invalidDid),
            ("did:socai:0OIl", .init(), .invalidDid),
            ("did:Socai:abc", .init(), .invalidDid),
            (did + "#key-1", .init(), .invalidDid),
            (did + "?service=hub", .init(), .invalidDid),
            ("did:web:example.com", .init(), .methodNotSupported),
            ("did:socai:" + Base58.encode(Array(repeating: 7, count: 16)), .init(), .notFound),
            (did, .init(versionId: "9"), .notFound),
            (did, .init(versionId: "0"), .invalidOptions),
            (did, .init(versionId: "abc"), .invalidOptions),
            (did, .init(versionId: "01"), .invalidOptions),
            (did, .init(versionTime: "yesterday"), .invalidOptions),
            (did, .init(versionTime: "2023-02-30T00:00:00Z"), .invalidOptions),
            (did + "?versionId=1", .init(versionId: "2"), .invalidOptions),
        ]
        for (input, options, expected) in cases {
            let result = resolve(fixture, input, options)
            #expect(result.didResolutionMetadata.error == expected, "\(input)")
            #expect(result.httpStatus == expected.httpStatus)
            #expect(result.didDocument == nil)
        }
        #expect(DIDResolutionError.invalidDid.httpStatus == 400)
        #expect(DIDResolutionError.notFound.httpStatus == 404)
        #expect(DIDResolutionError.representationNotSupported.httpStatus == 406)
        #expect(DIDResolutionError.methodNotSupported.httpStatus == 501)
        #expect(DIDResolutionError.internalError.httpStatus == 500)
        // Without a ledger, did:socai cannot resolve; did:key still does.
        #expect(DIDResolver.resolve(did, ledger: nil).result.didResolutionMetadata.error == .internalError)
        #expect(DIDResolver.resolve(DIDKey.identifier(for: PublicKey(of: fixture.alice)), ledger: nil).result.httpStatus == 200)
    }

    @Test func timestampsAreUTCWithoutFractions() {
        #expect(DIDTime.format(milliseconds: 0) == "1970-01-01T00:00:00Z")
        #expect(DIDTime.format(milliseconds: 1_700_000_001_999) == "2023-11-14T22:13:21Z")
        #expect(DIDTime.format(milliseconds: 1_709_208_000_000) == "2024-02-29T12:00:00Z")
        #expect(DIDTime.format(milliseconds: 253_402_300_799_000) == "9999-12-31T23:59:59Z")
        #expect(DIDTime.parse("2024-02-29T12:00:00Z") == 1_709_208_000_000)
        #expect(DIDTime.parse("2024-02-29T12:00:00.5Z") == 1_709_208_000_500)
        #expect(DIDTime.parse("2024-02-29T19:00:00+07:00") == 1_709_208_000_000)
        #expect(DIDTime.parse("2024-02-29T12:00:00") == nil)
        #expect(DIDTime.parse("2023-02-29T12:00:00Z") == nil)
        #expect(DIDTime.parse("1969-12-31T23:59:59Z") == nil)
        #expect(DIDTime.parse("2024-02-29 12:00:00Z") == nil)
        for milliseconds: UInt64 in [0, 951_782_400_000, 1_700_000_001_000, 4_102_444_800_000] {
            #expect(DIDTime.parse(DIDTime.format(milliseconds: milliseconds)) == milliseconds)
        }
    }

    @Test func acceptHeaderNegotiation() {
        #expect(DIDRepresentation.negotiate(nil) == .documentJSONLD)
        #expect(DIDRepresentation.negotiate("*/*") == .documentJSONLD)
        #expect(DIDRepresentation.negotiate("application/did+json") == .documentJSON)
        #expect(DIDRepresentation.negotiate("application/did-resolution") == .resolutionResult)
        #expect(
            DIDRepresentation.negotiate("application/ld+json;profile=\"https://w3id.org/did-resolution\"")
                == .resolutionResultJSONLD)
        #expect(DIDRepresentation.negotiate("application/ld+json") == .documentJSONLD)
        #expect(DIDRepresentation.negotiate("text/html") == nil)
        #expect(DIDRepresentation.negotiate("application/did+json;q=0") == nil)
        #expect(DIDRepresentation.negotiate("application/did+json;q=0.5, application/did-resolution") == .resolutionResult)
        #expect(DIDRepresentation.negotiate("text/html, application/did+json;q=0.9, */*;q=0.1") == .documentJSON)
        #expect(DIDRepresentation.negotiate("application/did+json;q=2") == nil)
    }
}
