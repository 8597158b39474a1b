import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

/// Submits `envelope` through `POST /v1/tx?wait=commit` and expects it committed.
func submitCommitted(_ client: some TestClientProtocol, _ envelope: TransactionEnvelope) async throws {
    let body = try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(envelope.canonicalBytes)])
    try await client.execute(uri: "/v1/tx?wait=commit", method: .post, body: ByteBuffer(bytes: Array(body))) {
        response in
        #expect(response.status == .ok)
    }
}

/// `GET path` with an optional `Accept`: the status, the content type and the body.
func getResponse(
    _ client: some TestClientProtocol, _ path: String, accept: String? = nil
) async throws -> (status: Int, contentType: String?, body: Data) {
    var headers = HTTPFields()
    if let accept { headers[.accept] = accept }
    return try await client.execute(uri: path, method: .get, headers: headers) { response in
        (Int(response.status.code), response.headers[.contentType], Data(response.body.readableBytesView))
    }
}

/// The rotation both DID route suites commit: `did` (created by `key`, at nonce 1) gains
/// `newKey` as key-2 with every relationship and drops key-1.
func keyRotation(of did: DID, to newKey: SigningKey, signedBy key: SigningKey, chainID: ChainID) throws
    -> TransactionEnvelope
{
    try DIDUpdate(
        did: did,
        operations: [.addKey(id: "key-2", publicKey: PublicKey(of: newKey), relationships: .all), .removeKey(id: "key-1")]
    ).envelope(chainID: chainID, key: key, nonce: 2)
}
