import NIOCore

/// Splits a byte stream into frames: a big-endian u32 length, then that many bytes.
///
/// The length is checked the moment its four bytes arrive, before any of the frame is
/// buffered, so a hostile prefix costs the receiver nothing. Zero-length frames are
/// rejected: no message of the protocol is empty, and allowing them would let a peer keep
/// a connection busy for free.
public struct FrameDecoder: ByteToMessageDecoder {
    /// Each decoded frame is its payload, without the length prefix.
    public typealias InboundOut = ByteBuffer

    /// Longest frame payload accepted after the handshake frames.
    public let frameBytesMax: Int
    /// Longest payload of each of the first `PeerLimits.handshakeFramesInbound` frames, or
    /// nil when every frame may be up to `frameBytesMax`.
    public let handshakeFrameBytesMax: Int?
    private var framesDecoded = 0

    /// Creates a decoder; `handshakeFrameBytesMax`, when given, bounds the Hello and Auth
    /// frames more tightly than the rest.
    public init(frameBytesMax: Int = PeerLimits.frameBytesMax, handshakeFrameBytesMax: Int? = nil) {
        precondition(frameBytesMax > 0 && frameBytesMax <= Int(UInt32.max), "frameBytesMax out of range")
        precondition(handshakeFrameBytesMax.map { $0 > 0 && $0 <= frameBytesMax } ?? true, "handshake limit out of range")
        self.frameBytesMax = frameBytesMax
        self.handshakeFrameBytesMax = handshakeFrameBytesMax
    }

    /// The limit that applies to the next frame.
    var currentFrameBytesMax: Int {
        if let handshakeFrameBytesMax, framesDecoded < PeerLimits.handshakeFramesInbound {
            return handshakeFrameBytesMax
        }
        return frameBytesMax
    }

    /// Decodes one frame if all of it has arrived.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        let limit = currentFrameBytesMax
        guard length != 0 else {
            throw NetworkError(.emptyFrame, "received a frame of length 0")
        }
        guard UInt64(length) <= UInt64(limit) else {
            throw NetworkError(.frameTooLarge, "received a frame length of \(length) bytes; the limit is \(limit)")
        }
        let total = PeerLimits.frameLengthPrefixBytes + Int(length)
        guard buffer.readableBytes >= total else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: PeerLimits.frameLengthPrefixBytes)
        let frame = buffer.readSlice(length: Int(length))!
        framesDecoded += 1
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    /// At end of stream a partial frame is simply discarded: the connection is gone anyway.
    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Prefixes each outgoing frame payload with its big-endian u32 length.
public struct FrameEncoder: MessageToByteEncoder {
    /// A frame payload, without the length prefix.
    public typealias OutboundIn = ByteBuffer

    /// Longest frame payload this side sends.
    public let frameBytesMax: Int

    /// Creates an encoder.
    public init(frameBytesMax: Int = PeerLimits.frameBytesMax) {
        precondition(frameBytesMax > 0 && frameBytesMax <= Int(UInt32.max), "frameBytesMax out of range")
        self.frameBytesMax = frameBytesMax
    }

    /// Writes the length and the payload; refuses what the peer's decoder would reject.
    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes > 0 else {
            throw NetworkError(.emptyFrame, "refusing to send a frame of length 0")
        }
        guard data.readableBytes <= frameBytesMax else {
            throw NetworkError(
                .frameTooLarge, "refusing to send a \(data.readableBytes)-byte frame; the limit is \(frameBytesMax)")
        }
        out.reserveCapacity(PeerLimits.frameLengthPrefixBytes + data.readableBytes)
        out.writeInteger(UInt32(data.readableBytes), endianness: .big)
        out.writeImmutableBuffer(data)
    }
}
