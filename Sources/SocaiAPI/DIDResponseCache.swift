import Foundation
import NIOCore
import SocaiDID

/// Rendered `GET /1.0/identifiers/{did}` answers for one committed height.
///
/// A did:socai answer is a function of the request (DID URL, options, proof flag and the
/// negotiated representation) and of the committed state, and the committed state is a
/// function of the height (blocks are final). So an answer computed at height `h` is the
/// answer for every request made while the node's committed height is `h`. (A did:key
/// document depends on the request alone; it is stored at the height current when it was
/// made, like the rest, and simply made again after the next commit.) The cache holds
/// answers of one height only: the first answer stored for a newer height drops all others,
/// and a lookup made at any other height misses. Lookups take a lock for a dictionary probe,
/// so a repeated resolution costs neither a hop onto the node's actor nor a render.
final class DIDResponseCache: @unchecked Sendable {
    /// Most answers held; when full, the cache empties and starts over (a cheap, bounded policy
    /// that favours the DIDs asked for since).
    static let entriesMax = 4_096
    /// Most body bytes held (proof answers carry certificates and are a few KiB each).
    static let bodyBytesMax = 16 << 20
    /// Longest DID, `versionId` or `versionTime` worth caching, in bytes; longer requests are
    /// answered afresh, so odd requests cannot make keys large.
    static let keyFieldBytesMax = DIDResolver.didURLBytesMax

    /// What a request asks for, as far as its answer depends on it.
    struct Key: Hashable, Sendable {
        /// The percent-decoded DID URL.
        let did: String
        /// The negotiated representation.
        let representation: DIDRepresentation
        /// `versionId`, as given.
        let versionId: String?
        /// `versionTime`, as given (percent-decoded).
        let versionTime: String?
        /// Whether a proof was asked for.
        let withProof: Bool

        /// Whether the key is small enough to cache.
        var isCacheable: Bool {
            did.utf8.count <= keyFieldBytesMax && (versionId?.utf8.count ?? 0) <= keyFieldBytesMax
                && (versionTime?.utf8.count ?? 0) <= keyFieldBytesMax
        }
    }

    /// A rendered answer. The body's storage is shared by every response that serves it
    /// (`ByteBuffer` is copy-on-write and responses only read it).
    struct Answer: Sendable {
        /// The HTTP status.
        let status: Int
        /// The `Content-Type`.
        let mediaType: String
        /// The body.
        let body: ByteBuffer
    }

    private let lock = NSLock()
    /// The committed height every held answer was computed at.
    private var height: UInt64 = 0
    private var answers: [Key: Answer] = [:]
    private var bodyBytes = 0

    /// The answer computed at `height`, if one is held.
    func answer(for key: Key, atHeight height: UInt64) -> Answer? {
        lock.lock()
        defer { lock.unlock() }
        guard height == self.height else { return nil }
        return answers[key]
    }

    /// Holds `answer`, computed at `height`. An answer for an older height than the held ones
    /// is dropped (a newer commit made it stale before it was stored).
    func store(_ answer: Answer, for key: Key, atHeight height: UInt64) {
        guard key.isCacheable, answer.body.readableBytes <= Self.bodyBytesMax else { return }
        lock.lock()
        defer { lock.unlock() }
        guard height >= self.height else { return }
        if height > self.height || answers.count >= Self.entriesMax
            || bodyBytes + answer.body.readableBytes > Self.bodyBytesMax
        {
            answers.removeAll(keepingCapacity: true)
            bodyBytes = 0
            self.height = height
        }
        if let replaced = answers.updateValue(answer, forKey: key) { bodyBytes -= replaced.body.readableBytes }
        bodyBytes += answer.body.readableBytes
        precondition(
            answers.count <= Self.entriesMax && bodyBytes <= Self.bodyBytesMax, "the DID answer cache exceeds its bounds")
    }

    /// How many answers are held (for tests).
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return answers.count
    }
}
