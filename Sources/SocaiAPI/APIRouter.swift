import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiState

/// The node's HTTP API (JSON). Handlers are thin: they parse, call the node, and render.
public enum SocaiAPI {
    /// Largest request body accepted, in bytes (a transaction is at most 64 KiB; hex doubles it).
    public static let requestBodyBytesMax = 2 * Limits.transactionBytesMax + 1024
    /// Longest `?wait=commit` wait, in milliseconds.
    public static let commitWaitMillisecondsMax: UInt64 = 30_000

    /// The body of `POST /v1/tx`.
    public struct SubmitRequest: Decodable {
        /// The canonical transaction envelope, hex (as `socai … --json` prints it).
        public let transaction: String
    }

    /// The answer to `POST /v1/tx`.
    public struct SubmitResponse: ResponseEncodable, Sendable {
        /// The transaction hash, hex.
        public let hash: String
        /// The committed result, when `?wait=commit` was given and it committed in time.
        public let result: CommittedTransaction?
    }

    /// Largest `POST /v1/txs` body accepted, in bytes: room for a full batch of typical
    /// transactions (a few hundred bytes each, hex), not for a full batch of the largest.
    public static let batchRequestBodyBytesMax = 4 << 20

    /// The body of `POST /v1/txs`: 1 to `NodeSubmission.batchTransactionsMax` transactions.
    public struct BatchSubmitRequest: Decodable {
        /// Canonical transaction envelopes, hex, admitted in this order.
        public let transactions: [String]
    }

    /// The answer to `POST /v1/txs`: one result per submitted transaction, in order.
    public struct BatchSubmitResponse: Encodable, Sendable {
        /// How many of the transactions the mempool accepted.
        public let accepted: Int
        /// One entry per transaction of the request, in its order.
        public let results: [BatchSubmitResult]
    }

    /// What became of one transaction of a batch: the status and error `POST /v1/tx` would
    /// have answered for it alone.
    public struct BatchSubmitResult: Encodable, Sendable {
        /// The transaction hash, hex; absent when the entry does not decode.
        public let hash: String?
        /// 200 when accepted, else the status `POST /v1/tx` gives that refusal.
        public let status: Int
        /// Why it was refused; absent when accepted.
        public let error: ErrorDetail?

        /// A refusal, as `POST /v1/tx` renders it under `error`.
        public struct ErrorDetail: Encodable, Sendable {
            /// A short machine-readable code, e.g. `duplicate`.
            public let code: String
            /// A one-line explanation.
            public let message: String
        }

        init(hash: Hash?, refusal: APIError?) {
            self.hash = hash?.hex
            status = Int(refusal?.status.code ?? 200)
            error = refusal.map { ErrorDetail(code: $0.code, message: $0.message) }
        }
    }

    struct Health: ResponseEncodable, Sendable {
        let status: String
    }

    struct Ready: ResponseEncodable, Sendable {
        let ready: Bool
    }

    struct BlockView: ResponseEncodable, Sendable {
        let height: UInt64
        let hash: String
        let chainID: String
        let timeMilliseconds: UInt64
        let previousBlockHash: String
        let lastCommitHash: String
        let transactionsRoot: String
        let evidenceRoot: String
        let stateRoot: String
        let validatorsHash: String
        let proposer: String
        let transactions: [String]
        let transactionHashes: [String]
        let evidenceCount: Int
        let certificateSigners: [String]
        let block: String
        let certificate: String
    }

    /// Builds the router for `node`.
    public static func router<Node: NodeService>(node: Node) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.get("/health") { _, _ in Health(status: "ok") }
        router.get("/ready") { _, _ -> Response in
            let ready = await node.isReady()
            var response = try JSONResponse.encode(Ready(ready: ready))
            response.status = ready ? .ok : .serviceUnavailable
            return response
        }
        router.get("/metrics") { _, _ -> Response in
            var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: await node.metricsText())))
            response.headers[.contentType] = "text/plain; version=0.0.4"
            return response
        }
        router.get("/v1/status") { _, _ -> Response in try JSONResponse.encode(await node.status()) }

        router.post("/v1/tx") { request, _ -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: requestBodyBytesMax) } catch {
                throw APIError(.contentTooLarge, "bodyTooLarge", "the request body exceeds \(requestBodyBytesMax) bytes")
            }
            let submit: SubmitRequest
            do { submit = try JSONDecoder().decode(SubmitRequest.self, from: Data(body.readableBytesView)) } catch {
                throw APIError.badRequest("the body must be JSON {\"transaction\": \"<hex>\"}")
            }
            let envelope: TransactionEnvelope
            do { envelope = try TransactionEnvelope(canonicalBytes: try Hex.decode(submit.transaction)) } catch {
                throw APIError.badRequest("transaction does not decode: \(error)")
            }
            let hash: Hash
            do { hash = try await node.submit(envelope) } catch let rejection as Mempool.Rejection {
                throw APIError(rejection)
            }
            guard request.uri.queryParameters.get("wait") == "commit" else { return JSONResponse.accepted(hash) }
            let timeout = min(UInt64(request.uri.queryParameters.get("timeoutMs") ?? "") ?? 10_000, commitWaitMillisecondsMax)
            guard let result = await node.waitForCommit(hash, timeoutMilliseconds: timeout) else {
                throw APIError(.gatewayTimeout, "notCommitted", "transaction \(hash) was not committed within \(timeout) ms")
            }
            return try JSONResponse.encode(SubmitResponse(hash: hash.hex, result: result))
        }
        router.post("/v1/txs") { request, _ -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: batchRequestBodyBytesMax) } catch {
                throw APIError(.contentTooLarge, "bodyTooLarge", "the request body exceeds \(batchRequestBodyBytesMax) bytes")
            }
            // A batch is only accepted into the mempool: waiting is per transaction, on
            // `GET /v1/tx/{hash}` or `POST /v1/tx?wait=commit`.
            guard request.uri.queryParameters.get("wait") == nil else {
                throw APIError.badRequest("POST /v1/txs does not wait for commits; poll GET /v1/tx/{hash} instead")
            }
            let submit: BatchSubmitRequest
            do { submit = try JSONDecoder().decode(BatchSubmitRequest.self, from: Data(body.readableBytesView)) } catch {
                throw APIError.badRequest("the body must be JSON {\"transactions\": [\"<hex>\", …]}")
            }
            guard (1...NodeSubmission.batchTransactionsMax).contains(submit.transactions.count) else {
                throw APIError.badRequest(
                    "a batch holds 1 to \(NodeSubmission.batchTransactionsMax) transactions, not \(submit.transactions.count)")
            }
            return try JSONResponse.encode(await submitBatch(submit.transactions, to: node))
        }
        router.get("/v1/tx/:hash") { _, context -> Response in
            let hash = try parseHash(context.parameters.get("hash"), "transaction hash")
            guard let result = await node.committedTransaction(hash) else {
                throw APIError.notFound("transaction \(hash) is not committed")
            }
            let proof = try await node.query { queries, _, _ in try queries.proof(forKey: StateKey.transaction(hash)) }
            return try JSONResponse.encode(TransactionView(result: result, proof: ProofView(proof)))
        }
        router.get("/v1/blocks/:height") { _, context -> BlockView in
            guard let text = context.parameters.get("height"), let height = UInt64(text), height >= 1 else {
                throw APIError.badRequest("block height must be a positive integer")
            }
            guard let (block, certificate) = try await node.block(at: height) else {
                throw APIError.notFound("no block at height \(height)")
            }
            let header = block.header
            return BlockView(
                height: header.height, hash: block.hash.hex, chainID: header.chainID.value,
                timeMilliseconds: header.timeMilliseconds,
                previousBlockHash: header.previousBlockHash.hex, lastCommitHash: header.lastCommitHash.hex,
                transactionsRoot: header.transactionsRoot.hex, evidenceRoot: header.evidenceRoot.hex,
                stateRoot: header.stateRoot.hex,
                validatorsHash: header.validatorsHash.hex, proposer: header.proposer.hex,
                transactions: block.transactions.map { Hex.encode($0.canonicalBytes) },
                transactionHashes: block.transactions.map(\.hash.hex),
                evidenceCount: block.evidence.count, certificateSigners: certificate.signatures.map(\.validator.hex),
                block: Hex.encode(block.canonicalBytes), certificate: Hex.encode(certificate.canonicalBytes))
        }

        // Proven state queries.
        router.get("/v1/dids/:did") { request, context -> ProvenView<DIDView> in
            let did = try parseDID(context.parameters.get("did"))
            let version = request.uri.queryParameters.get("version").flatMap(UInt64.init)
            return try await proven(node, "DID \(did)") { queries in
                try version.map { try queries.did(did, version: $0) } ?? queries.did(did)
            } view: { record, _ in
                DIDView(record)
            }
        }
        router.get("/v1/consents/:id") { _, context -> ProvenView<ConsentView> in
            let id = try parseHash(context.parameters.get("id"), "consent id")
            return try await proven(node, "consent \(id)") {
                try $0.consent(id)
            } view: {
                ConsentView($0, atMilliseconds: $1)
            }
        }
        router.get("/v1/consents") { request, _ -> ProvenList<ConsentView> in
            let subject = request.uri.queryParameters.get("subject")
            let consumer = request.uri.queryParameters.get("consumer")
            guard (subject == nil) != (consumer == nil) else {
                throw APIError.badRequest("give exactly one of ?subject= or ?consumer=")
            }
            let did = try parseDID(subject ?? consumer)
            let after = try parseCursor(request)
            return try await listing {
                try await node.query { queries, height, time in
                    let page =
                        try subject != nil
                        ? queries.consentPage(subject: did, after: after) : queries.consentPage(consumer: did, after: after)
                    return ProvenList(
                        items: page.items.map {
                            ProvenView(
                                record: ConsentView($0.record, atMilliseconds: time), height: height, proof: ProofView($0.proof))
                        }, next: page.next)
                }
            }
        }
        router.get("/v1/access-log/:subject") { request, context -> ProvenList<AccessView> in
            let did = try parseDID(context.parameters.get("subject"))
            let after = try parseCursor(request)
            return try await listing {
                try await node.query { queries, height, _ in
                    // The subject's access count, proven beside the entries, shows the log is
                    // whole: a node cannot leave an access out unnoticed.
                    let (entries, countProof) = try queries.accessLogPage(subject: did, after: after)
                    let total: UInt64
                    do { total = try countProof.value.map { try AmountRecord(canonicalBytes: $0).value } ?? 0 } catch {
                        throw StateError(.corrupt, "the access count of \(did) does not decode")
                    }
                    return ProvenList(
                        items: entries.items.map {
                            ProvenView(record: AccessView($0.record), height: height, proof: ProofView($0.proof))
                        }, next: entries.next, total: total, totalProof: ProofView(countProof))
                }
            }
        }
        router.get("/v1/offers") { request, _ -> ProvenList<OfferView> in
            let after = try parseCursor(request)
            return try await listing {
                try await node.query { queries, height, _ in
                    let page = try queries.offerPage(after: after)
                    return ProvenList(
                        items: page.items.map {
                            ProvenView(record: OfferView($0.record), height: height, proof: ProofView($0.proof))
                        }, next: page.next)
                }
            }
        }
        router.get("/v1/orders/:id") { _, context -> ProvenView<OrderView> in
            let id = try parseHash(context.parameters.get("id"), "order id")
            return try await proven(node, "order \(id)") {
                try $0.order(id)
            } view: { record, _ in
                OrderView(record)
            }
        }
        router.get("/v1/balances/:did") { _, context -> ProvenView<BalanceView> in
            let did = try parseDID(context.parameters.get("did"))
            return try await node.query { queries, height, _ in
                let (credits, proof) = try queries.balance(did)
                return ProvenView(record: BalanceView(did: did.value, credits: credits), height: height, proof: ProofView(proof))
            }
        }
        DIDResolverRoutes.register(on: router, node: node)
        return router
    }

    struct TransactionView: Encodable, Sendable {
        let result: CommittedTransaction
        let proof: ProofView
    }

    static func proven<Node: NodeService, Record: StateRecord, View: Encodable & Sendable>(
        _ node: Node, _ what: String, _ lookup: @escaping @Sendable (LedgerQueries) throws -> Proven<Record>?,
        view: @escaping @Sendable (Record, UInt64) -> View
    ) async throws -> ProvenView<View> {
        let answer: ProvenView<View>? = try await node.query { queries, height, time in
            try lookup(queries).map { ProvenView(record: view($0.record, time), height: height, proof: ProofView($0.proof)) }
        }
        guard let answer else { throw APIError.notFound("\(what) does not exist") }
        return answer
    }

    /// Decodes each hex entry of a batch, submits the ones that decode in one call, in
    /// order, and answers one result per entry. An entry that does not decode is refused
    /// alone, as `POST /v1/tx` would refuse it.
    static func submitBatch(_ entries: [String], to node: some NodeService) async -> BatchSubmitResponse {
        let decoded = entries.enumerated().map { index, entry -> Result<TransactionEnvelope, APIError> in
            do { return .success(try TransactionEnvelope(canonicalBytes: try Hex.decode(entry))) } catch {
                return .failure(APIError.badRequest("transaction \(index) does not decode: \(error)"))
            }
        }
        let envelopes = decoded.compactMap { try? $0.get() }
        let outcomes = await node.submit(batch: envelopes)
        precondition(outcomes.count == envelopes.count, "one outcome per submitted transaction")
        // The outcomes follow the entries that decoded, in entry order.
        var nextOutcome = outcomes.makeIterator()
        let results = decoded.map { entry -> BatchSubmitResult in
            switch entry {
            case .failure(let decodeError):
                return BatchSubmitResult(hash: nil, refusal: decodeError)
            case .success(let envelope):
                guard let outcome = nextOutcome.next() else { preconditionFailure("an outcome for every decoded entry") }
                switch outcome {
                case .success(let hash): return BatchSubmitResult(hash: hash, refusal: nil)
                case .failure(let rejection as Mempool.Rejection):
                    return BatchSubmitResult(hash: envelope.hash, refusal: APIError(rejection))
                case .failure:
                    // A failure to read the state is the node's, not the transaction's; the
                    // node logged it.
                    return BatchSubmitResult(hash: envelope.hash, refusal: APIError.internal())
                }
            }
        }
        return BatchSubmitResponse(accepted: results.count { $0.status == 200 }, results: results)
    }

    static func parseHash(_ text: String?, _ what: String) throws -> Hash {
        guard let text, let hash = try? Hash(hex: text) else {
            throw APIError.badRequest("\(what) must be 64 lowercase hex digits")
        }
        return hash
    }

    /// Longest `?after=` cursor accepted, in bytes: a list's cursor is one state key.
    static let cursorBytesMax = 512

    /// The `?after=` cursor (a page's `next`, hex), or nil when there is none.
    static func parseCursor(_ request: Request) throws -> [UInt8]? {
        guard let text = request.uri.queryParameters.get("after") else { return nil }
        guard text.count <= 2 * cursorBytesMax, let bytes = try? Hex.decode(text), !bytes.isEmpty else {
            throw APIError.badRequest("?after= must be a page's next cursor: hex, at most \(cursorBytesMax) bytes")
        }
        return bytes
    }

    /// Runs a list query, answering 400 for a cursor that is not of the list asked for.
    static func listing<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        do { return try await body() } catch let error as StateError where error.code == .invalidArgument {
            throw APIError.badRequest(error.message)
        }
    }

    static func parseDID(_ text: String?) throws -> DID {
        guard let text, let did = try? DID(text.removingPercentEncoding ?? text) else {
            throw APIError.badRequest("\"\(text ?? "")\" is not a did:socai identifier")
        }
        return did
    }
}

/// Encodes any Encodable as a JSON response with sorted keys.
enum JSONResponse {
    /// `{"hash":"<hex>"}`, the answer to an accepted `POST /v1/tx`, written directly: it is
    /// the one answer every submission gets, and a JSON encoder cost about 5 µs of the
    /// node's processor time for it. Hex digits need no escaping, so these bytes are exactly
    /// what `encode(SubmitResponse(hash:result: nil))` gives.
    static func accepted(_ hash: Hash) -> Response {
        var body = ByteBuffer()
        body.reserveCapacity(acceptedPrefix.count + 2 * Hash.byteCount + acceptedSuffix.count)
        body.writeBytes(acceptedPrefix)
        body.writeString(hash.hex)
        body.writeBytes(acceptedSuffix)
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: body))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }
    private static let acceptedPrefix = Array(#"{"hash":""#.utf8)
    private static let acceptedSuffix = Array(#""}"#.utf8)

    static func encode(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(try encoder.encode(value)))))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }
}
