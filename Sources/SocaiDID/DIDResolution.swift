import Foundation
import SocaiCore
import SocaiState

/// A DID Resolution error (W3C DID Resolution), with the HTTP status the specification maps it to.
public enum DIDResolutionError: String, Error, Codable, Sendable, CaseIterable {
    /// The DID (or DID URL) is not valid syntax for its method.
    case invalidDid
    /// A resolution option (versionId, versionTime) is malformed.
    case invalidOptions
    /// The DID, or the version asked for, does not exist.
    case notFound
    /// The caller's `Accept` names no representation this resolver produces.
    case representationNotSupported
    /// The method is neither `socai` nor `key`.
    case methodNotSupported
    /// The resolver failed; the details stay in its log.
    case internalError

    /// The HTTP status of the error (DID Resolution, "HTTP(S) binding").
    public var httpStatus: Int {
        switch self {
        case .invalidDid, .invalidOptions: return 400
        case .notFound: return 404
        case .representationNotSupported: return 406
        case .methodNotSupported: return 501
        case .internalError: return 500
        }
    }
}

/// `didResolutionMetadata`.
public struct DIDResolutionMetadata: Codable, Equatable, Sendable {
    /// The media type of the returned representation.
    public var contentType: String?
    /// The error, when resolution failed.
    public var error: DIDResolutionError?
    /// A one-line explanation of the error (no internals).
    public var errorMessage: String?
    /// The state proof and commit certificate, when asked for (docs/FORMAT.md §29).
    public var proof: DIDResolutionProof?

    /// Creates metadata.
    public init(
        contentType: String? = nil, error: DIDResolutionError? = nil, errorMessage: String? = nil,
        proof: DIDResolutionProof? = nil
    ) {
        self.contentType = contentType
        self.error = error
        self.errorMessage = errorMessage
        self.proof = proof
    }
}

/// `didDocumentMetadata`. Times are `yyyy-MM-ddTHH:mm:ssZ` (`DIDTime`).
public struct DIDDocumentMetadata: Codable, Equatable, Sendable {
    /// When the DID was created (block time).
    public var created: String?
    /// When the returned version was made (block time).
    public var updated: String?
    /// Present and true when the returned version is deactivated.
    public var deactivated: Bool?
    /// The returned version, as a decimal string.
    public var versionId: String?
    /// When the version after the returned one was made (older versions only).
    public var nextUpdate: String?
    /// The version after the returned one (older versions only).
    public var nextVersionId: String?

    /// Creates metadata.
    public init(
        created: String? = nil, updated: String? = nil, deactivated: Bool? = nil, versionId: String? = nil,
        nextUpdate: String? = nil, nextVersionId: String? = nil
    ) {
        self.created = created
        self.updated = updated
        self.deactivated = deactivated
        self.versionId = versionId
        self.nextUpdate = nextUpdate
        self.nextVersionId = nextVersionId
    }
}

/// A DID Resolution result: document, resolution metadata and document metadata.
public struct DIDResolutionResult: Codable, Equatable, Sendable {
    /// The DID Resolution context.
    public static let resolutionContext = "https://w3id.org/did-resolution/v1"

    /// The JSON-LD context of the result.
    public var context: String
    /// The document; nil on error.
    public var didDocument: DIDDocument?
    /// Resolution metadata.
    public var didResolutionMetadata: DIDResolutionMetadata
    /// Document metadata (empty on error, except for a deactivated DID).
    public var didDocumentMetadata: DIDDocumentMetadata

    enum CodingKeys: String, CodingKey {
        case context = "@context"
        case didDocument, didResolutionMetadata, didDocumentMetadata
    }

    /// Creates a result.
    public init(
        didDocument: DIDDocument?, didResolutionMetadata: DIDResolutionMetadata, didDocumentMetadata: DIDDocumentMetadata
    ) {
        context = Self.resolutionContext
        self.didDocument = didDocument
        self.didResolutionMetadata = didResolutionMetadata
        self.didDocumentMetadata = didDocumentMetadata
    }

    /// A failed resolution.
    public static func failure(_ error: DIDResolutionError, _ message: String) -> DIDResolutionResult {
        DIDResolutionResult(
            didDocument: nil, didResolutionMetadata: DIDResolutionMetadata(error: error, errorMessage: message),
            didDocumentMetadata: DIDDocumentMetadata())
    }

    /// The HTTP status: the error's, 410 for a deactivated DID, otherwise 200.
    public var httpStatus: Int {
        if let error = didResolutionMetadata.error { return error.httpStatus }
        return didDocumentMetadata.deactivated == true ? 410 : 200
    }

    /// The result as JSON with sorted keys and unescaped slashes: one value, one byte string.
    public func jsonBytes() -> [UInt8] { DIDJSON.encode(self) }
}

/// The JSON encoding every resolver answer uses.
public enum DIDJSON {
    /// A document: the same bytes as the generic `encode`, written directly (`DIDDocumentJSON`),
    /// since the resolver renders one for every answer it computes.
    public static func encode(_ document: DIDDocument) -> [UInt8] { DIDDocumentJSON.encode(document) }

    /// Encodes with sorted keys and without escaping `/`.
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value here is plain strings, numbers, booleans and arrays: encoding cannot fail.
        guard let data = try? encoder.encode(value) else { preconditionFailure("DID JSON encoding failed") }
        return Array(data)
    }
}

/// The options of one resolution: a version by number or by time (DID URL parameters).
public struct DIDResolutionOptions: Equatable, Sendable {
    /// `versionId`: the version number, as given.
    public var versionId: String?
    /// `versionTime`: an RFC 3339 date-time; the latest version made at or before it.
    public var versionTime: String?

    /// Creates options.
    public init(versionId: String? = nil, versionTime: String? = nil) {
        self.versionId = versionId
        self.versionTime = versionTime
    }
}

/// A parsed DID (with DID URL parameters split off).
public enum ParsedDID: Equatable, Sendable {
    /// A did:socai identifier.
    case socai(DID)
    /// A did:key Ed25519 identifier, with the X25519 key derived from it.
    case key(PublicKey, keyAgreement: [UInt8])
}

/// Resolves `did:socai` from ledger state and `did:key` locally.
public enum DIDResolver {
    /// Longest DID URL accepted, in bytes (a did:socai DID is at most 64, parameters add a little).
    public static let didURLBytesMax = 512
    /// Most versions a `versionTime` search looks at (binary search over 1…version needs about 64).
    static let versionSearchStepsMax = 70

    /// Splits `did?versionId=…&versionTime=…` into the DID and its parameters; parameters in
    /// the URL and in `options` must not disagree.
    public static func split(_ didURL: String, options: DIDResolutionOptions) -> Result<
        (did: String, options: DIDResolutionOptions), DIDResolutionFailure
    > {
        guard didURL.utf8.count <= didURLBytesMax else { return .failure(.init(.invalidDid, "the DID is too long")) }
        guard !didURL.contains("#") else { return .failure(.init(.invalidDid, "a DID URL with a fragment is not a DID")) }
        let parts = didURL.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var merged = options
        if parts.count == 2 {
            for parameter in parts[1].split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else {
                    return .failure(.init(.invalidDid, "DID URL parameter \"\(parameter)\" has no value"))
                }
                let value = pair[1].removingPercentEncoding ?? pair[1]
                switch pair[0] {
                case "versionId":
                    guard merged.versionId == nil || merged.versionId == value else {
                        return .failure(.init(.invalidOptions, "two different versionId values"))
                    }
                    merged.versionId = value
                case "versionTime":
                    guard merged.versionTime == nil || merged.versionTime == value else {
                        return .failure(.init(.invalidOptions, "two different versionTime values"))
                    }
                    merged.versionTime = value
                default:
                    return .failure(.init(.invalidDid, "DID URL parameter \"\(pair[0])\" is not supported"))
                }
            }
        }
        return .success((String(parts[0]), merged))
    }

    /// Parses a DID: `did:socai:…` or `did:key:z6Mk…`; any other well-formed method is not supported.
    public static func parse(_ did: String) -> Result<ParsedDID, DIDResolutionFailure> {
        let pieces = did.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        let methodCharacters = pieces.count == 3 ? Array(pieces[1].utf8) : []
        let methodValid =
            !methodCharacters.isEmpty
            && methodCharacters.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            }
        guard pieces.count == 3, pieces[0] == "did", methodValid, !pieces[2].isEmpty else {
            return .failure(.init(.invalidDid, "\"\(did.prefix(80))\" is not a DID"))
        }
        switch pieces[1] {
        case "socai":
            guard let parsed = try? DID(did) else {
                return .failure(.init(.invalidDid, "\"\(did.prefix(80))\" is not a did:socai identifier"))
            }
            return .success(.socai(parsed))
        case "key":
            do throws(DIDKeyMethod.ParseError) {
                let parsed = try DIDKeyMethod.parse(did)
                return .success(.key(parsed.publicKey, keyAgreement: parsed.keyAgreement))
            } catch {
                switch error {
                case .malformed: return .failure(.init(.invalidDid, "\"\(did.prefix(80))\" is not a did:key identifier"))
                case .unsupportedKeyType:
                    return .failure(.init(.invalidDid, "only Ed25519 did:key identifiers (z6Mk…) are supported"))
                case .invalidKey: return .failure(.init(.invalidDid, "the did:key does not hold a valid Ed25519 public key"))
                }
            }
        default:
            return .failure(.init(.methodNotSupported, "the DID method \"\(pieces[1])\" is not supported (socai, key)"))
        }
    }

    /// Resolves a DID (URL). `ledger` answers did:socai questions; pass nil offline, where
    /// did:socai resolves to an `internalError` naming the missing ledger.
    /// With `withProof`, a did:socai answer comes with the state entry behind it and that
    /// entry's proof against the current root (§29.3); without, no proof is computed.
    public static func resolve(
        _ didURL: String, options: DIDResolutionOptions = DIDResolutionOptions(), ledger: LedgerQueries?,
        withProof: Bool = false
    ) -> DIDResolutionOutcome {
        let split: (did: String, options: DIDResolutionOptions)
        switch Self.split(didURL, options: options) {
        case .success(let value): split = value
        case .failure(let failure): return .failed(failure)
        }
        switch parse(split.did) {
        case .failure(let failure): return .failed(failure)
        case .success(.key(let key, let keyAgreement)):
            // A did:key has one version and no history: only versionId 1 (or none) exists.
            if let versionId = split.options.versionId, versionId != "1" {
                return .failed(.init(.notFound, "a did:key has only version 1"))
            }
            if let versionTime = split.options.versionTime, DIDTime.parse(versionTime) == nil {
                return .failed(.init(.invalidOptions, "versionTime \"\(versionTime.prefix(60))\" is not an RFC 3339 date-time"))
            }
            return .resolved(
                DIDResolutionResult(
                    didDocument: DIDKeyMethod.document(for: key, keyAgreement: keyAgreement),
                    didResolutionMetadata: DIDResolutionMetadata(),
                    didDocumentMetadata: DIDDocumentMetadata()),
                entry: nil)
        case .success(.socai(let did)):
            guard let ledger else { return .failed(.init(.internalError, "did:socai needs a ledger to resolve")) }
            do { return try resolveSocai(did, options: split.options, ledger: ledger, withProof: withProof) } catch {
                return .failed(.init(.internalError, "the ledger could not be read"))
            }
        }
    }

    static func resolveSocai(_ did: DID, options: DIDResolutionOptions, ledger: LedgerQueries, withProof: Bool)
        throws(StateError) -> DIDResolutionOutcome
    {
        var requestedVersion: UInt64?
        if let text = options.versionId {
            guard let number = UInt64(text), number >= 1, String(number) == text else {
                return .failed(.init(.invalidOptions, "versionId \"\(text.prefix(40))\" must be a positive decimal integer"))
            }
            requestedVersion = number
        }
        var requestedTime: UInt64?
        if let text = options.versionTime {
            guard let milliseconds = DIDTime.parse(text) else {
                return .failed(.init(.invalidOptions, "versionTime \"\(text.prefix(60))\" is not an RFC 3339 date-time"))
            }
            requestedTime = milliseconds
        }
        guard let current = try ledger.didRecord(did) else {
            let failure = DIDResolutionFailure(.notFound, "\(did) does not exist")
            guard withProof else { return .absent(failure, entry: nil) }
            // Absence is proved for the DID's current-document key: no versions exist without it.
            let key = StateKey.did(did)
            let proof = try ledger.proof(forKey: key)
            guard proof.value == nil else { throw StateError(.corrupt, "\(did) is proven present but reads as absent") }
            return .absent(failure, entry: DIDResolutionOutcome.Entry(key: key, proof: proof))
        }
        let latest = current.version
        precondition(latest >= 1, "DID versions start at 1")
        var chosen = current
        if let requestedVersion {
            guard requestedVersion <= latest, let record = try ledger.didRecord(did, version: requestedVersion) else {
                return .failed(.init(.notFound, "\(did) has no version \(requestedVersion) (latest \(latest))"))
            }
            chosen = record
        }
        if let requestedTime {
            // Versions are made in block order, so their times never decrease: binary search
            // for the last version made at or before the time, within any versionId bound.
            var low: UInt64 = 1
            var high: UInt64 = requestedVersion ?? latest
            var found: DIDRecord?
            var steps = 0
            while low <= high {
                steps += 1
                precondition(steps <= versionSearchStepsMax, "binary search over u64 versions ends in 64 steps")
                let middle = low + (high - low) / 2
                guard let candidate = try ledger.didRecord(did, version: middle) else {
                    throw StateError(.corrupt, "\(did) lacks version \(middle) of \(latest)")
                }
                if candidate.updatedMilliseconds <= requestedTime {
                    found = candidate
                    low = middle + 1
                } else {
                    high = middle - 1
                }
            }
            guard let found else {
                return .failed(.init(.notFound, "\(did) did not exist at \(options.versionTime ?? "")"))
            }
            chosen = found
        }
        var metadata = DIDDocumentMetadata(
            created: DIDTime.format(milliseconds: chosen.createdMilliseconds),
            updated: DIDTime.format(milliseconds: chosen.updatedMilliseconds),
            deactivated: chosen.deactivated ? true : nil, versionId: String(chosen.version))
        if chosen.version < latest {
            guard let next = try ledger.didRecord(did, version: chosen.version + 1) else {
                throw StateError(.corrupt, "\(did) lacks version \(chosen.version + 1) of \(latest)")
            }
            metadata.nextVersionId = String(next.version)
            metadata.nextUpdate = DIDTime.format(milliseconds: next.updatedMilliseconds)
        }
        let result = DIDResolutionResult(
            didDocument: DIDDocument(record: chosen), didResolutionMetadata: DIDResolutionMetadata(),
            didDocumentMetadata: metadata)
        guard withProof else { return .resolved(result, entry: nil) }
        // The latest version is proved under `did/d`, an older one under its history entry.
        let key = chosen.version == latest ? StateKey.did(did) : StateKey.didVersion(did, chosen.version)
        let proof = try ledger.proof(forKey: key)
        guard let value = proof.value, value == chosen.canonicalBytes else {
            throw StateError(.corrupt, "\(did)'s proven entry differs from the record read")
        }
        var entry = DIDResolutionOutcome.Entry(key: key, proof: proof)
        if chosen.version < latest {
            // The version after it is in the history too, unless it is the latest, which a
            // chain of format version 2 keeps under `did/d` alone.
            let nextVersion = chosen.version + 1
            let historyKey = StateKey.didVersion(did, nextVersion)
            var next = try ledger.proof(forKey: historyKey)
            if next.value == nil, nextVersion == latest { next = try ledger.proof(forKey: StateKey.did(did)) }
            guard next.value != nil, next.root == proof.root else {
                throw StateError(.corrupt, "\(did)'s next version is not proven beside the one read")
            }
            entry.next = next
        }
        return .resolved(result, entry: entry)
    }
}

/// An error and its message.
public struct DIDResolutionFailure: Error, Equatable, Sendable {
    /// The error.
    public let error: DIDResolutionError
    /// A one-line explanation.
    public let message: String

    /// Creates a failure.
    public init(_ error: DIDResolutionError, _ message: String) {
        self.error = error
        self.message = message
    }
}

/// What a resolution gave: a result and, for did:socai, the state entry that supplied it.
public enum DIDResolutionOutcome: Sendable {
    /// The state entry behind a did:socai answer and its proof against the current root
    /// (only when a proof was asked for).
    public struct Entry: Sendable {
        /// The state key (`did/…` or `did-version/…`).
        public let key: [UInt8]
        /// The proof of the entry.
        public let proof: StateProof
        /// For an older version, the proof of the version after it (`did-version/…/v+1`, or
        /// `did/…` when that is the latest and the history keeps superseded versions only),
        /// which proves `nextVersionId` and `nextUpdate`.
        public var next: StateProof? = nil
    }

    /// A document was found (possibly deactivated).
    case resolved(DIDResolutionResult, entry: Entry?)
    /// The DID has no document (`notFound`); with a proof asked for, `entry` proves that its
    /// `did/…` key is absent from the current state.
    case absent(DIDResolutionFailure, entry: Entry?)
    /// Resolution failed.
    case failed(DIDResolutionFailure)

    /// The result (a failure result for `.absent` and `.failed`).
    public var result: DIDResolutionResult {
        switch self {
        case .resolved(let result, _): return result
        case .absent(let failure, _), .failed(let failure): return .failure(failure.error, failure.message)
        }
    }

    /// The entry behind the answer, present or proven absent, when a proof was asked for.
    public var entry: Entry? {
        switch self {
        case .resolved(_, let entry), .absent(_, let entry): return entry
        case .failed: return nil
        }
    }
}
