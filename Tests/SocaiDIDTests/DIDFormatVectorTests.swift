import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import SocaiState
import Testing

@testable import SocaiDID

/// docs/FORMAT.md §29.5: the documented did:socai and did:key documents are what the code renders.
@Suite struct DIDFormatVectorTests {
    /// The body of the one fenced block of docs/FORMAT.md whose info string is exactly `info`.
    static func block(_ info: String) throws -> String {
        let blocks = FormatDocument.fencedBlocks(try FormatDocument.text(), info: info)
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```\(info) block")
        return blocks[0]
    }

    static func pretty(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// The record §29.5 describes.
    static var record: DIDRecord {
        let key1 = try! PublicKey(hex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let key2 = try! PublicKey(hex: "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664")
        return DIDRecord(
            did: DID(initialKey: key1), version: 2, deactivated: false,
            verificationMethods: [
                VerificationMethodRecord(id: "key-1", publicKey: key1, relationships: .all),
                VerificationMethodRecord(id: "key-2", publicKey: key2, relationships: .authentication),
            ],
            services: [try! DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://hub.example/alice")],
            createdHeight: 1, createdMilliseconds: 1_700_000_001_000, updatedHeight: 5, updatedMilliseconds: 1_700_000_005_999)
    }

    @Test func didSocaiDocumentAndMetadata() throws {
        let record = Self.record
        let computed = Self.pretty(DIDDocument(record: record))
        #expect(try Self.block("did-socai-document") == computed, "computed:\n\(computed)")
        let metadata = DIDDocumentMetadata(
            created: DIDTime.format(milliseconds: record.createdMilliseconds),
            updated: DIDTime.format(milliseconds: record.updatedMilliseconds), versionId: String(record.version))
        let computedMetadata = Self.pretty(metadata)
        #expect(try Self.block("did-socai-metadata") == computedMetadata, "computed:\n\(computedMetadata)")
    }

    @Test func didKeyDocument() throws {
        let key = PublicKey(of: try SigningKey(seed: Array(repeating: 0, count: 32)))
        let computed = Self.pretty(DIDKeyMethod.document(for: key))
        #expect(try Self.block("did-key-document") == computed, "computed:\n\(computed)")
    }
}
