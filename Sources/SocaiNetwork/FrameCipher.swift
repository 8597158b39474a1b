import SocaiCrypto

/// Encrypts and decrypts the frames of one session with XChaCha20-Poly1305 (IETF).
///
/// Each direction has its own key (from `crypto_kx`) and its own 64-bit frame counter, and
/// the nonce of a frame is its counter: 16 zero bytes, then the counter as a big-endian u64.
/// Counters are never sent; both sides count. So a replayed, dropped, reordered or
/// reflected frame is opened with the wrong nonce or key and fails authentication, and a
/// nonce is never used twice with one key. A direction that reaches
/// `PeerLimits.framesPerDirectionMax` refuses further frames rather than wrap around.
///
/// libsodium's secretstream would give the same guarantees; the counter nonce was chosen
/// because it keeps each frame independent of the previous one's bytes, is a few lines to
/// specify for an independent implementation, and uses the same AEAD as key files.
public struct FrameCipher: Sendable {
    private let keys: SessionKeys
    /// The counter (nonce) of the next frame this side seals.
    public private(set) var sendCounter: UInt64
    /// The counter (nonce) the next frame from the peer must have been sealed with.
    public private(set) var receiveCounter: UInt64

    /// Starts a session with both counters at zero (or elsewhere, for tests of the limit).
    init(keys: SessionKeys, sendCounter: UInt64 = 0, receiveCounter: UInt64 = 0) {
        self.keys = keys
        self.sendCounter = sendCounter
        self.receiveCounter = receiveCounter
    }

    /// The 24-byte nonce of frame number `counter`.
    public static func nonce(_ counter: UInt64) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: AEAD.nonceBytes - 8)
        for shift in stride(from: 56, through: 0, by: -8) {
            nonce.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift)))
        }
        return nonce
    }

    /// Seals a message as the next outgoing frame payload (ciphertext ‖ 16-byte tag).
    public mutating func seal(_ message: [UInt8]) throws(NetworkError) -> [UInt8] {
        guard message.count <= PeerLimits.messageBytesMax else {
            throw NetworkError(.messageTooLarge, "a \(message.count)-byte message exceeds \(PeerLimits.messageBytesMax) bytes")
        }
        guard sendCounter < PeerLimits.framesPerDirectionMax else {
            throw NetworkError(.counterExhausted, "this session has sent its last frame; reconnect for new keys")
        }
        let frame: [UInt8]
        do throws(CryptoError) {
            frame = try keys.seal(message, nonce: Self.nonce(sendCounter))
        } catch {
            // Lengths are checked above, so the cipher cannot refuse.
            preconditionFailure("sealing a frame failed: \(error)")
        }
        sendCounter += 1
        return frame
    }

    /// Opens the peer's next frame payload, returning the message.
    public mutating func open(_ frame: [UInt8]) throws(NetworkError) -> [UInt8] {
        guard receiveCounter < PeerLimits.framesPerDirectionMax else {
            throw NetworkError(.counterExhausted, "the peer has sent its last frame of this session")
        }
        guard frame.count >= AEAD.tagBytes, frame.count <= PeerLimits.frameBytesMax else {
            throw NetworkError(.decryptionFailed, "frame \(receiveCounter): \(frame.count) bytes cannot be a sealed message")
        }
        let message: [UInt8]
        do throws(CryptoError) {
            message = try keys.open(frame, nonce: Self.nonce(receiveCounter))
        } catch {
            throw NetworkError(.decryptionFailed, "frame \(receiveCounter) failed authentication (altered, replayed or forged)")
        }
        receiveCounter += 1
        return message
    }
}
