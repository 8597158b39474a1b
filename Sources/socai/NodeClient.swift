import Foundation
import SocaiCore
import SocaiCrypto

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small blocking client for a node's HTTP API, for the command line.
struct NodeClient {
    /// Longest wait for one HTTP exchange, in seconds.
    static let requestSecondsMax: TimeInterval = 40
    /// Largest response body read, in bytes.
    static let responseBytesMax = 16 * 1024 * 1024

    let baseURL: URL

    init(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw CommandFailure("--node \"\(text)\" is not an http:// URL")
        }
        baseURL = url
    }

    /// Sends a request and returns (status, body).
    func exchange(_ method: String, _ path: String, body: Data? = nil, accept: String? = nil) throws -> (Int, Data) {
        guard let url = URL(string: path, relativeTo: baseURL) else { throw CommandFailure("bad API path \(path)") }
        var request = URLRequest(url: url, timeoutInterval: Self.requestSecondsMax)
        request.httpMethod = method
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let semaphore = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable {
            var result: Result<(Int, Data), Error> = .failure(CommandFailure("no response"))
        }
        let box = Box()
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(error)
            } else {
                box.result = .success(((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }
            semaphore.signal()
        }.resume()
        semaphore.wait()
        do {
            let (status, data) = try box.result.get()
            guard data.count <= Self.responseBytesMax else {
                throw CommandFailure("the node's answer is larger than \(Self.responseBytesMax) bytes")
            }
            return (status, data)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("cannot reach the node at \(baseURL.absoluteString): \(error.localizedDescription)")
        }
    }

    /// The `error.message` of a JSON error body, or the body as text.
    static func errorMessage(_ data: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let error = object["error"] as? [String: Any], let message = error["message"] as? String
        {
            return message
        }
        return String(decoding: data.prefix(500), as: UTF8.self)
    }

    /// Submits a transaction and waits for its committed result.
    func submitAndWait(_ envelope: TransactionEnvelope) throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(envelope.canonicalBytes)])
        let (status, data) = try exchange("POST", "/v1/tx?wait=commit&timeoutMs=30000", body: body)
        guard status == 200 else {
            throw CommandFailure("the node refused transaction \(envelope.hash): \(Self.errorMessage(data)) (HTTP \(status))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandFailure("the node's answer is not JSON")
        }
        return object
    }
}
