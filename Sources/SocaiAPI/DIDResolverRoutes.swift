import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SocaiCore
import SocaiDID
import SocaiNode
import SocaiState

/// `GET /1.0/identifiers/{did}`: the Universal Resolver driver API over this node's state.
/// The handler only negotiates, reads and renders; resolution itself is `SocaiDID`'s.
enum DIDResolverRoutes {
    /// The media type of a resolution result sent for an error or a deactivated DID.
    static let resultMediaType = DIDRepresentation.resolutionResult.rawValue

    static func register<Node: NodeService>(on router: Router<BasicRequestContext>, node: Node) {
        let index = ValidatorChangeIndex(node: node)
        let cache = DIDResponseCache()
        router.get("/1.0/identifiers/:did") { request, context -> Response in
            // Parsed once: each `queryParameters` access parses the query again.
            let query = request.uri.queryParameters
            return await resolve(
                node: node, index: index, cache: cache, did: context.parameters.get("did") ?? "",
                accept: request.headers[.accept], versionId: query.get("versionId"),
                versionTime: query.get("versionTime").map(percentDecoded), withProof: query.get("proof") == "true")
        }
    }

    /// `text` with its percent escapes decoded (unchanged when malformed). Most DIDs have no
    /// `%`, and Foundation's decoder costs microseconds even then, so those skip it.
    static func percentDecoded(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        return text.removingPercentEncoding ?? text
    }

    /// Resolves and renders one request; never throws, so every failure has its DID Resolution status.
    /// An answer is served from `cache` when one was computed at the node's current committed
    /// height, and stored there otherwise (only when the node publishes its height).
    static func resolve<Node: NodeService>(
        node: Node, index: ValidatorChangeIndex<Node>, cache: DIDResponseCache, did rawDID: String, accept: String?,
        versionId: String?, versionTime: String?, withProof: Bool
    ) async -> Response {
        guard let representation = DIDRepresentation.negotiate(accept) else {
            return response(
                render(
                    .failure(.representationNotSupported, "Accept names no supported type (\(supportedTypes))"),
                    as: nil))
        }
        let did = percentDecoded(rawDID)
        let options = DIDResolutionOptions(versionId: versionId, versionTime: versionTime)
        let key = DIDResponseCache.Key(
            did: did, representation: representation, versionId: versionId, versionTime: versionTime, withProof: withProof)
        let watch = node.committedHeightWatch
        let publishedHeight = watch?.value
        if let publishedHeight, let cached = cache.answer(for: key, atHeight: publishedHeight) { return response(cached) }
        var result: DIDResolutionResult
        guard did.hasPrefix(DID.prefix) else {
            // did:key, malformed DIDs and other methods need no ledger: no node query.
            result = DIDResolver.resolve(did, options: options, ledger: nil).result
            if result.didResolutionMetadata.error == nil {
                result.didResolutionMetadata.contentType = DIDRepresentation.documentJSONLD.rawValue
            }
            let answer = render(result, as: representation)
            // A did:key document depends on the request alone, so it holds at any height; it is
            // cached (deriving its X25519 key is costly). Errors here are cheap: not cached, so
            // malformed requests cannot crowd out documents.
            if let publishedHeight, answer.status == 200 { cache.store(answer, for: key, atHeight: publishedHeight) }
            return response(answer)
        }
        let height: UInt64
        do {
            // The validator set is read in the same query, so it is the set of the same state.
            let (outcome, queryHeight, currentSet) = try await node.query { queries, height, _ in
                let outcome = DIDResolver.resolve(did, options: options, ledger: queries, withProof: withProof)
                var currentSet: ValidatorSet?
                if withProof, let bytes = try queries.proof(forKey: StateKey.validators).value {
                    currentSet = try ValidatorSetRecord(canonicalBytes: bytes).set
                }
                return (outcome, height, currentSet)
            }
            height = queryHeight
            result = outcome.result
            if result.didResolutionMetadata.error == nil {
                result.didResolutionMetadata.contentType = DIDRepresentation.documentJSONLD.rawValue
            }
            if let entry = outcome.entry {
                result.didResolutionMetadata.proof = try await proof(
                    node: node, index: index, entry: entry, height: height, currentSet: currentSet)
            }
        } catch {
            // The cause (a store or decoding failure) is the operator's business, not the caller's.
            // Not cached: the next request tries again.
            return response(
                render(.failure(.internalError, "the node failed to resolve the DID; see its log"), as: representation))
        }
        let answer = render(result, as: representation)
        // Everything above was read at `height`, so the answer holds while it is the committed height.
        if watch != nil, answer.status != 500 { cache.store(answer, for: key, atHeight: height) }
        return response(answer)
    }

    static let supportedTypes = DIDRepresentation.allCases.map(\.rawValue).joined(separator: ", ")

    /// The proof of `entry`, read at `height`: that block's header and certificate, and the
    /// validator-set changes since genesis (docs/FORMAT.md §29.3). Nil when the node cannot
    /// supply a set that changed (it keeps only the current set).
    static func proof<Node: NodeService>(
        node: Node, index: ValidatorChangeIndex<Node>, entry: DIDResolutionOutcome.Entry, height: UInt64,
        currentSet: ValidatorSet?
    ) async throws -> DIDResolutionProof? {
        guard height >= 1, let (block, certificate) = try await node.block(at: height) else { return nil }
        guard block.header.stateRoot == entry.proof.root else { return nil }
        let log = try await index.log(upTo: height)
        guard log.scannedHeight >= height else { return nil }
        // Each change carries the set it introduced, as the node's store recorded it, else the
        // current set (a store without that record); `proofChanges` keeps only sets that hash
        // to the change's header. A proof carries at most `validatorChangesMax` changes; one
        // more is enough to know it cannot.
        var sets: [UInt64: ValidatorSet] = [:]
        for changeHeight in log.changeHeights(upTo: height).prefix(DIDResolutionProof.validatorChangesMax + 1) {
            sets[changeHeight] = try await node.validatorSet(inForceAt: changeHeight)
        }
        guard let changes = log.proofChanges(upTo: height, setInForceAt: { sets[$0] ?? currentSet }) else { return nil }
        return DIDResolutionProof(entry: entry, header: block.header, certificate: certificate, validatorChanges: changes)
    }

    /// The document alone for a successful resolution in a document representation; the whole
    /// result otherwise (errors and deactivation carry their metadata).
    static func render(_ result: DIDResolutionResult, as representation: DIDRepresentation?) -> DIDResponseCache.Answer {
        let status = result.httpStatus
        let bytes: [UInt8]
        let mediaType: String
        if status == 200, let representation, !representation.isResolutionResult, let document = result.didDocument {
            bytes = DIDJSON.encode(document)
            mediaType = representation.rawValue
        } else {
            bytes = result.jsonBytes()
            mediaType = representation?.isResolutionResult == true ? representation!.rawValue : resultMediaType
        }
        return DIDResponseCache.Answer(status: status, mediaType: mediaType, body: ByteBuffer(bytes: bytes))
    }

    /// The HTTP response for a rendered answer.
    static func response(_ answer: DIDResponseCache.Answer) -> Response {
        var response = Response(
            status: HTTPResponse.Status(code: answer.status), body: ResponseBody(byteBuffer: answer.body))
        response.headers[.contentType] = answer.mediaType
        return response
    }
}

/// The node's validator changes, scanned once and extended as the chain grows, so a proof
/// costs the blocks added since the last one rather than a pass over the whole chain.
actor ValidatorChangeIndex<Node: NodeService> {
    let node: Node
    private var log = ValidatorChangeLog()

    init(node: Node) { self.node = node }

    /// The log covering at least `height` (less only if the node lacks a block).
    func log(upTo height: UInt64) async throws -> ValidatorChangeLog {
        var working = log
        while working.scannedHeight < height {
            guard let (block, certificate) = try await node.block(at: working.scannedHeight + 1) else { break }
            working.append(header: block.header, certificate: certificate)
        }
        // Another request may have extended the log meanwhile: both are prefixes of one chain, keep the longer.
        if working.scannedHeight > log.scannedHeight { log = working }
        return working
    }
}
