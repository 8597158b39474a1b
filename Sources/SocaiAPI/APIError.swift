import Foundation
import HTTPTypes
import Hummingbird
import SocaiNode

/// An API error: its HTTP status and a JSON body `{"error": {"code": …, "message": …}}`
/// naming the problem. Internal failures say so without leaking internals.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// A short machine-readable code, e.g. `invalidTransaction`.
    public let code: String
    /// A one-line explanation.
    public let message: String

    /// Creates an error.
    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
        }
        let error: Detail
    }

    /// Renders the error as JSON.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Body(error: .init(code: code, message: message)))
        var response = Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(data))))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }

    /// The answer to a mempool's refusal: 409 for a duplicate, 503 when full, 422 naming the
    /// state machine's rule otherwise.
    init(_ rejection: Mempool.Rejection) {
        switch rejection {
        case .duplicate: self.init(.conflict, "duplicate", rejection.description)
        case .full: self.init(.serviceUnavailable, "mempoolFull", rejection.description)
        case .invalid(let code, _): self.init(.unprocessableContent, code.name, rejection.description)
        }
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "badRequest", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "notFound", message) }
    static func `internal`() -> APIError { APIError(.internalServerError, "internal", "the node failed to answer; see its log") }
}

/// Renders every failure of a request as the API's JSON error (`APIError`), whatever threw
/// it: the router's own "no route" (404) and "wrong method" answers, which Hummingbird
/// sends with an empty body, and any error a route did not turn into an `APIError` (a
/// store or state failure), which it would send as an empty 500. Such an internal failure
/// is answered `APIError.internal()`, without its text, which may name files or SQL; the
/// request's logger records it for the operator. Errors that render their own response
/// (`APIError`, the DID resolver's) pass through unchanged.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            throw Self.apiError(error, request: request)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            throw APIError.internal()
        }
    }

    /// The JSON form of one of Hummingbird's own errors: its status, a code named after it,
    /// and its message or, when it has none, one that names the request.
    static func apiError(_ error: HTTPError, request: Request) -> APIError {
        let message: String
        switch (error.body, error.status) {
        case (let body?, _): message = body
        case (nil, .notFound): message = "no route for \(request.method) \(request.uri.path)"
        case (nil, .methodNotAllowed): message = "\(request.uri.path) does not take \(request.method)"
        case (nil, let status): message = "\(request.method) \(request.uri.path): \(status.reasonPhrase)"
        }
        let code: String
        switch error.status {
        case .notFound: code = "notFound"
        case .methodNotAllowed: code = "methodNotAllowed"
        case .badRequest: code = "badRequest"
        case .contentTooLarge: code = "bodyTooLarge"
        default: code = error.status.code >= 500 ? "internal" : "httpError"
        }
        return APIError(error.status, code, message)
    }
}
