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
        encoder.outputFormatting = [.sortedKeys]
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
