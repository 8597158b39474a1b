import Foundation
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiDID

/// The direct document writer must give exactly the bytes JSONEncoder gives (sorted keys,
/// unescaped slashes), for every document shape and for strings that need escaping.
@Suite struct DIDDocumentJSONTests {
    func viaEncoder(_ document: DIDDocument) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(document))
    }

    func expectSameBytes(_ document: DIDDocument) throws {
        let direct = DIDJSON.encode(document)
        let encoded = try viaEncoder(document)
        #expect(direct == encoded, "\(String(decoding: direct, as: UTF8.self)) != \(String(decoding: encoded, as: UTF8.self))")
        #expect(try JSONDecoder().decode(DIDDocument.self, from: Data(direct)) == document)
    }

    @Test func everyDocumentShapeMatchesTheEncoder() throws {
        let key = PublicKey(of: try SigningKey(seed: SHA256.hash(Array("json writer".utf8))))
        // did:key: capabilityInvocation, capabilityDelegation and keyAgreement.
        try expectSameBytes(DIDKeyMethod.document(for: key))
        // did:socai: several keys, relationships and services.
        let did = "did:socai:" + Base58.encode(Array(repeating: 7, count: 16))
        let methods = ["key-1", "key-2"].map {
            DIDDocument.VerificationMethod(
                id: did + "#" + $0, type: "Multikey", controller: did, publicKeyMultibase: DIDKey.multibase(for: key))
        }
        try expectSameBytes(
            DIDDocument(
                context: [DIDDocument.didContext, DIDDocument.multikeyContext], id: did, controller: did,
                verificationMethod: methods, authentication: [did + "#key-1"], assertionMethod: [],
                service: [
                    .init(id: did + "#hub", type: "LinkedDomains", serviceEndpoint: "https://alice.example/a/b?c=d"),
                    .init(id: did + "#mail", type: "Mailbox", serviceEndpoint: "mailto:alice@example.org"),
                ]))
        // Deactivated: the id alone; and empty arrays where lists are present but empty.
        try expectSameBytes(DIDDocument.deactivated(did))
        try expectSameBytes(DIDDocument(context: [], id: did, verificationMethod: [], service: []))
    }

    @Test func escapingMatchesTheEncoder() throws {
        let awkward = [
            "quote \" backslash \\ slash /", "controls \u{0}\u{1}\u{8}\u{9}\u{A}\u{C}\u{D}\u{1F}", "delete \u{7F}",
            "non-ASCII é 雪 😀", "",
        ]
        for text in awkward {
            try expectSameBytes(
                DIDDocument(
                    context: [text], id: text, controller: text,
                    verificationMethod: [.init(id: text, type: text, controller: text, publicKeyMultibase: text)],
                    authentication: [text], service: [.init(id: text, type: text, serviceEndpoint: text)]))
        }
    }
}
