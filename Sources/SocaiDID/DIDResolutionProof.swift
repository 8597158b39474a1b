import SocaiCore
import SocaiCrypto
import SocaiState

/// The evidence that lets a client that trusts only the genesis file check a did:socai
/// answer from a single node (docs/FORMAT.md §29). Every field is lowercase hex of a
/// canonical encoding.
public struct DIDResolutionProof: Codable, Equatable, Sendable {
    /// Most validator-set changes one proof may carry.
    public static let validatorChangesMax = 1_000

    /// The height whose state the entry is proved against.
    public var height: UInt64
    /// The state key of the entry (`did/…` or `did-version/…`).
    public var stateKey: String
    /// The entry's value: the DID record's canonical encoding (§20); empty when the proof
    /// is of absence (a `notFound` answer).
    public var stateValue: String
    /// The sparse Merkle proof of the entry (§19.3) against the header's state root.
    public var stateProof: String
    /// For an older version: the value of the version after it (under `did-version/d/v+1`,
    /// or `did/d` when it is the latest), which proves `nextVersionId` and `nextUpdate` (and
    /// so which version a `versionTime` picks).
    public var nextStateValue: String?
    /// The sparse Merkle proof of that entry against the same state root.
    public var nextStateProof: String?
    /// The block header at `height` (§5).
    public var header: String
    /// The commit certificate of that block (§7).
    public var certificate: String
    /// The validator-set changes from genesis to `height`, oldest first.
    public var validatorChanges: [ValidatorChange]

    /// A header where the validator set changed, its certificate and the new set.
    public struct ValidatorChange: Codable, Equatable, Sendable {
        /// The first header committed by the new set (§5).
        public var header: String
        /// Its commit certificate (§7).
        public var certificate: String
        /// The new set (§12); its hash is the header's `validatorsHash`.
        public var validatorSet: String

        /// Creates a change.
        public init(header: BlockHeader, certificate: CommitCertificate, validatorSet: ValidatorSet) {
            self.header = Hex.encode(header.canonicalBytes)
            self.certificate = Hex.encode(certificate.canonicalBytes)
            self.validatorSet = Hex.encode(validatorSet.canonicalBytes)
        }
    }

    /// The validator changes among `headers` (heights 1, 2, … in order, each with its
    /// certificate): every header whose `validatorsHash` differs from the one before. Nil when
    /// a changed set is not `currentSet`, the only set a node keeps (docs/FORMAT.md §29.4).
    public static func findValidatorChanges(
        headers: [(header: BlockHeader, certificate: CommitCertificate)], currentSet: ValidatorSet?
    ) -> [ValidatorChange]? {
        var log = ValidatorChangeLog()
        for (header, certificate) in headers { log.append(header: header, certificate: certificate) }
        return log.proofChanges(upTo: log.scannedHeight, currentSet: currentSet)
    }

    /// Assembles a proof from the entry behind a resolution and the block it was read at.
    public init(
        entry: DIDResolutionOutcome.Entry, header: BlockHeader, certificate: CommitCertificate,
        validatorChanges: [ValidatorChange]
    ) {
        precondition(entry.proof.root == header.stateRoot, "the entry is proved against the header's state")
        precondition(validatorChanges.count <= Self.validatorChangesMax)
        height = header.height
        stateKey = Hex.encode(entry.key)
        stateValue = Hex.encode(entry.proof.value ?? [])
        stateProof = Hex.encode(entry.proof.proof.canonicalBytes)
        if let next = entry.next {
            precondition(next.root == header.stateRoot, "the next version is proved against the header's state")
            nextStateValue = Hex.encode(next.value ?? [])
            nextStateProof = Hex.encode(next.proof.canonicalBytes)
        }
        self.header = Hex.encode(header.canonicalBytes)
        self.certificate = Hex.encode(certificate.canonicalBytes)
        self.validatorChanges = validatorChanges
    }
}

/// The headers where the validator set changed, found by one pass over the chain that can
/// be continued as blocks are added (committed blocks never change, so nothing is rescanned).
public struct ValidatorChangeLog: Sendable {
    /// The highest height looked at.
    public private(set) var scannedHeight: UInt64 = 0
    private var lastValidatorsHash: Hash?
    /// Each header whose `validatorsHash` differs from the previous header's, with its certificate.
    public private(set) var changes: [(header: BlockHeader, certificate: CommitCertificate)] = []

    /// An empty log (nothing scanned).
    public init() {}

    /// Looks at the next header (height `scannedHeight + 1`).
    public mutating func append(header: BlockHeader, certificate: CommitCertificate) {
        precondition(header.height == scannedHeight + 1, "headers are appended in height order")
        if let lastValidatorsHash, lastValidatorsHash != header.validatorsHash {
            // A change every block would still stay within the chain's height; the proof caps what it carries.
            changes.append((header, certificate))
        }
        lastValidatorsHash = header.validatorsHash
        scannedHeight = header.height
    }

    /// The changes at or below `height` as a proof carries them, each with the set in force
    /// from its height (`setInForceAt`), or nil when a set is unknown, does not hash to the
    /// header's `validatorsHash`, or there are more changes than a proof may carry.
    public func proofChanges(
        upTo height: UInt64, setInForceAt: (UInt64) -> ValidatorSet?
    ) -> [DIDResolutionProof.ValidatorChange]? {
        precondition(height <= scannedHeight, "the log covers the height asked about")
        var result: [DIDResolutionProof.ValidatorChange] = []
        for change in changes where change.header.height <= height {
            guard let set = setInForceAt(change.header.height), set.hash == change.header.validatorsHash,
                result.count < DIDResolutionProof.validatorChangesMax
            else { return nil }
            result.append(.init(header: change.header, certificate: change.certificate, validatorSet: set))
        }
        return result
    }

    /// The changes at or below `height` as a proof carries them, when every one of them
    /// introduced `currentSet` (a node that keeps only its current set can prove at most
    /// one change); nil otherwise.
    public func proofChanges(upTo height: UInt64, currentSet: ValidatorSet?) -> [DIDResolutionProof.ValidatorChange]? {
        proofChanges(upTo: height) { _ in currentSet }
    }

    /// The heights at or below `height` where the set changed, ascending.
    public func changeHeights(upTo height: UInt64) -> [UInt64] {
        changes.map(\.header.height).filter { $0 <= height }
    }
}

/// Checks a resolution result's proof against a genesis file (docs/FORMAT.md §29.3).
public enum DIDProofVerifier {
    /// Why an answer is not proven.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The kind of failure.
        public enum Code: String, Sendable, Equatable {
            /// The result carries no proof.
            case missing
            /// A field does not decode.
            case malformed
            /// A header or certificate belongs to another chain, height or block.
            case mismatch
            /// A certificate is not signed by the validator set in force, or a set change is not vouched for.
            case certificate
            /// The state proof does not tie the entry to the header's state root.
            case stateProof
            /// The document or its metadata differs from the proven record.
            case document
        }

        /// The kind.
        public let code: Code
        /// A one-line explanation.
        public let message: String

        /// Creates a failure.
        public init(_ code: Code, _ message: String) {
            self.code = code
            self.message = message
        }

        /// `code: message`.
        public var description: String { "\(code.rawValue): \(message)" }
    }

    /// Verifies that `result`, the resolution of `did` (optionally at `versionId`), is what
    /// the chain of `genesis` committed. Returns the proven height.
    @discardableResult
    public static func verify(_ result: DIDResolutionResult, did: DID, genesis: Genesis) throws(Failure) -> UInt64 {
        guard let proof = result.didResolutionMetadata.proof else { throw Failure(.missing, "the answer carries no proof") }
        guard proof.validatorChanges.count <= DIDResolutionProof.validatorChangesMax else {
            throw Failure(.malformed, "more than \(DIDResolutionProof.validatorChangesMax) validator changes")
        }
        var trusted = genesis.validatorSet
        var trustedHeight: UInt64 = 0
        for change in proof.validatorChanges {
            let header = try decode(BlockHeader.self, change.header, "validator change header")
            let certificate = try decode(CommitCertificate.self, change.certificate, "validator change certificate")
            let set = try decode(ValidatorSet.self, change.validatorSet, "validator set")
            guard header.height > trustedHeight else {
                throw Failure(.mismatch, "validator changes must be in ascending height order")
            }
            guard set.hash == header.validatorsHash else {
                throw Failure(.mismatch, "the validator set at height \(header.height) does not hash to its header's")
            }
            try checkCommitted(header, certificate, by: set, genesis: genesis)
            // The outgoing set vouches for the incoming one: signers it knows must hold more
            // than a third of its power, so at least one honest member of it signed.
            var vouchingPower: UInt64 = 0
            for signature in certificate.signatures {
                if let member = trusted.validator(for: signature.validator) { vouchingPower += member.power }
            }
            guard vouchingPower * 3 > trusted.totalPower else {
                throw Failure(
                    .certificate, "the validator set at height \(header.height) is not vouched for by a third of the previous set"
                )
            }
            trusted = set
            trustedHeight = header.height
        }
        let header = try decode(BlockHeader.self, proof.header, "header")
        let certificate = try decode(CommitCertificate.self, proof.certificate, "certificate")
        guard header.height == proof.height, header.height >= max(trustedHeight, 1) else {
            throw Failure(.mismatch, "the header's height is not the proof's height or precedes a validator change")
        }
        guard header.validatorsHash == trusted.hash else {
            throw Failure(.certificate, "block \(header.height) names a validator set the proof does not establish")
        }
        try checkCommitted(header, certificate, by: trusted, genesis: genesis)

        let key = try hex(proof.stateKey, "state key")
        let value = try hex(proof.stateValue, "state value")
        let merkleProof = try decode(SparseMerkleProof.self, proof.stateProof, "state proof")
        if result.didResolutionMetadata.error == .notFound {
            // A notFound answer is proven by the absence of the DID's current-document key.
            guard result.didDocument == nil, value.isEmpty, key == StateKey.did(did) else {
                throw Failure(.document, "a notFound answer must prove \(did)'s document key absent, and carry no document")
            }
            guard StateProof(key: key, value: nil, root: header.stateRoot, proof: merkleProof).verify() else {
                throw Failure(.stateProof, "\(did) is not proven absent from the state of block \(header.height)")
            }
            return header.height
        }
        guard StateProof(key: key, value: value, root: header.stateRoot, proof: merkleProof).verify() else {
            throw Failure(.stateProof, "the entry is not in the state of block \(header.height)")
        }
        let record: DIDRecord
        do throws(FormatError) { record = try DIDRecord(canonicalBytes: value) } catch {
            throw Failure(.malformed, "the proven entry is not a DID record: \(error.message)")
        }
        guard record.did == did else { throw Failure(.document, "the proven record is of \(record.did), not \(did)") }
        guard key == StateKey.did(did) || key == StateKey.didVersion(did, record.version) else {
            throw Failure(.document, "the proven entry is not \(did)'s document")
        }
        guard result.didDocument == DIDDocument(record: record) else {
            throw Failure(.document, "the document differs from the proven record")
        }
        let metadata = result.didDocumentMetadata
        guard metadata.versionId == String(record.version),
            metadata.created == DIDTime.format(milliseconds: record.createdMilliseconds),
            metadata.updated == DIDTime.format(milliseconds: record.updatedMilliseconds),
            (metadata.deactivated ?? false) == record.deactivated
        else {
            throw Failure(.document, "the document metadata differs from the proven record")
        }
        // The latest version is proved under `did/d`, so it has no next. An older one, under
        // its history key, must come with the version after it, which proves `nextVersionId`
        // and `nextUpdate`.
        guard key != StateKey.did(did) else {
            guard metadata.nextVersionId == nil, metadata.nextUpdate == nil, proof.nextStateProof == nil else {
                throw Failure(.document, "the latest version has no next version")
            }
            return header.height
        }
        guard let nextValueText = proof.nextStateValue, let nextProofText = proof.nextStateProof else {
            throw Failure(.stateProof, "an older version's answer must prove the version after it")
        }
        let nextValue = try hex(nextValueText, "next state value")
        let nextProof = try decode(SparseMerkleProof.self, nextProofText, "next state proof")
        // The next version is proven under its history key, or under `did/d` when it is the
        // latest (format version 2 keeps the latest there alone). Either key of the DID's
        // holding version v+1 in the same state proves the same metadata.
        let nextKeys = [StateKey.didVersion(did, record.version + 1), StateKey.did(did)]
        guard
            nextKeys.contains(where: {
                StateProof(key: $0, value: nextValue, root: header.stateRoot, proof: nextProof).verify()
            })
        else {
            throw Failure(.stateProof, "version \(record.version + 1) is not in the state of block \(header.height)")
        }
        let next: DIDRecord
        do throws(FormatError) { next = try DIDRecord(canonicalBytes: nextValue) } catch {
            throw Failure(.malformed, "the proven next version is not a DID record: \(error.message)")
        }
        guard next.did == did, next.version == record.version + 1,
            metadata.nextVersionId == String(next.version),
            metadata.nextUpdate == DIDTime.format(milliseconds: next.updatedMilliseconds)
        else {
            throw Failure(.document, "nextVersionId or nextUpdate differs from the proven next version")
        }
        return header.height
    }

    private static func checkCommitted(
        _ header: BlockHeader, _ certificate: CommitCertificate, by set: ValidatorSet, genesis: Genesis
    ) throws(Failure) {
        guard header.chainID == genesis.chainID else { throw Failure(.mismatch, "a header of chain \(header.chainID.value)") }
        guard certificate.height == header.height, certificate.blockID == header.hash else {
            throw Failure(.mismatch, "the certificate is not for block \(header.height)")
        }
        do throws(VerificationError) { try certificate.verify(chainID: genesis.chainID, validatorSet: set) } catch {
            throw Failure(.certificate, "block \(header.height): \(error.message)")
        }
    }

    private static func hex(_ text: String, _ what: String) throws(Failure) -> [UInt8] {
        guard text.utf8.count <= 2 * Limits.blockBytesMax, let bytes = try? Hex.decode(text) else {
            throw Failure(.malformed, "\(what) is not hex")
        }
        return bytes
    }

    private static func decode<Value: CanonicalCodable>(_ type: Value.Type, _ text: String, _ what: String) throws(Failure)
        -> Value
    {
        let bytes = try hex(text, what)
        do throws(FormatError) { return try Value(canonicalBytes: bytes) } catch {
            throw Failure(.malformed, "\(what) does not decode: \(error.message)")
        }
    }
}
