import SocaiCore
import SocaiState

/// A W3C DID Core 1.0 document in its JSON-LD form. Encoded with sorted keys, so one
/// document has one byte representation (`@context` sorts first).
public struct DIDDocument: Codable, Equatable, Sendable {
    /// The JSON-LD contexts.
    public var context: [String]
    /// The DID.
    public var id: String
    /// The DIDs allowed to change the document (did:socai: the DID itself).
    public var controller: String?
    /// The keys.
    public var verificationMethod: [VerificationMethod]?
    /// Ids of keys that authenticate the subject.
    public var authentication: [String]?
    /// Ids of keys that may issue assertions (credentials).
    public var assertionMethod: [String]?
    /// Ids of keys that may invoke capabilities (did:key).
    public var capabilityInvocation: [String]?
    /// Ids of keys that may delegate capabilities (did:key).
    public var capabilityDelegation: [String]?
    /// Ids of key-agreement keys (did:key's derived X25519 key).
    public var keyAgreement: [String]?
    /// Service endpoints.
    public var service: [Service]?

    enum CodingKeys: String, CodingKey {
        case context = "@context"
        case id, controller, verificationMethod, authentication, assertionMethod, capabilityInvocation
        case capabilityDelegation, keyAgreement, service
    }

    /// A verification method with a multibase public key.
    public struct VerificationMethod: Codable, Equatable, Sendable {
        /// `DID#fragment`.
        public var id: String
        /// `Multikey`, `Ed25519VerificationKey2020` or `X25519KeyAgreementKey2020`.
        public var type: String
        /// The DID that controls the key.
        public var controller: String
        /// `z` + base58btc of the multicodec-prefixed key.
        public var publicKeyMultibase: String
    }

    /// A service endpoint.
    public struct Service: Codable, Equatable, Sendable {
        /// `DID#fragment`.
        public var id: String
        /// The service type.
        public var type: String
        /// The endpoint URL.
        public var serviceEndpoint: String
    }

    /// The W3C DID v1 context.
    public static let didContext = "https://www.w3.org/ns/did/v1"
    /// The Multikey context (did:socai's verification methods).
    public static let multikeyContext = "https://w3id.org/security/multikey/v1"

    /// A document holding only its id, as a deactivated DID resolves.
    public static func deactivated(_ id: String) -> DIDDocument {
        DIDDocument(context: [didContext], id: id)
    }

    init(
        context: [String], id: String, controller: String? = nil, verificationMethod: [VerificationMethod]? = nil,
        authentication: [String]? = nil, assertionMethod: [String]? = nil, capabilityInvocation: [String]? = nil,
        capabilityDelegation: [String]? = nil, keyAgreement: [String]? = nil, service: [Service]? = nil
    ) {
        self.context = context
        self.id = id
        self.controller = controller
        self.verificationMethod = verificationMethod
        self.authentication = authentication
        self.assertionMethod = assertionMethod
        self.capabilityInvocation = capabilityInvocation
        self.capabilityDelegation = capabilityDelegation
        self.keyAgreement = keyAgreement
        self.service = service
    }

    /// The did:socai document of a ledger record (docs/FORMAT.md §29.1): the DID controls
    /// itself; each key is a `Multikey` with id `DID#<key id>`, listed in `authentication`
    /// and/or `assertionMethod` by its relationship bits, in the record's (id) order; each
    /// service has id `DID#<service id>`. A deactivated record gives `deactivated(_:)`.
    public init(record: DIDRecord) {
        let did = record.did.value
        guard !record.deactivated else {
            self = Self.deactivated(did)
            return
        }
        precondition(record.verificationMethods.count <= LedgerLimits.verificationMethodsMax)
        precondition(record.services.count <= LedgerLimits.servicesMax)
        let methods = record.verificationMethods.map { method in
            VerificationMethod(
                id: did + "#" + method.id, type: "Multikey", controller: did,
                publicKeyMultibase: DIDKey.multibase(for: method.publicKey))
        }
        let authentication = record.verificationMethods.filter { $0.relationships.contains(.authentication) }.map {
            did + "#" + $0.id
        }
        let assertion = record.verificationMethods.filter { $0.relationships.contains(.assertionMethod) }.map {
            did + "#" + $0.id
        }
        let services = record.services.map { Service(id: did + "#" + $0.id, type: $0.type, serviceEndpoint: $0.endpoint) }
        self.init(
            context: [Self.didContext, Self.multikeyContext], id: did, controller: did, verificationMethod: methods,
            authentication: authentication, assertionMethod: assertion, service: services.isEmpty ? nil : services)
    }
}
