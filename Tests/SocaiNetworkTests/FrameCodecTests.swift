import NIOCore
import NIOEmbedded
import SocaiCrypto
import Testing

@testable import SocaiNetwork

@Suite("frame codec")
struct FrameCodecTests {
    private func decoderChannel(_ decoder: FrameDecoder = FrameDecoder()) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(decoder))
    }

    private func encode(_ payloads: [[UInt8]]) throws -> [UInt8] {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(FrameEncoder()))
        defer { _ = try? channel.finish() }
        var wire: [UInt8] = []
        for payload in payloads {
            try channel.writeOutbound(channel.allocator.buffer(bytes: payload))
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                wire += Array(buffer.readableBytesView)
            }
        }
        return wire
    }

    @Test("frames fed one byte at a time come out whole, each only once its last byte arrives")
    func dripFeed() throws {
        let payloads: [[UInt8]] = [
            [0x2a], Array("consent".utf8), SecureRandom.bytes(count: 300), SecureRandom.bytes(count: 70_000),
        ]
        let wire = try encode(payloads)
        #expect(wire == payloads.flatMap(wireFrame))
        let channel = decoderChannel()
        var decoded: [[UInt8]] = []
        var frameEnds = Set<Int>()
        var offset = 0
        for payload in payloads {
            offset += 4 + payload.count
            frameEnds.insert(offset)
        }
        for (index, byte) in wire.enumerated() {
            try channel.writeInbound(channel.allocator.buffer(bytes: [byte]))
            if let frame = try channel.readInbound(as: ByteBuffer.self) {
                #expect(frameEnds.contains(index + 1), "a frame came out before its last byte (at \(index))")
                decoded.append(Array(frame.readableBytesView))
            }
        }
        #expect(decoded == payloads)
        #expect(try channel.finish().isClean)
    }

    @Test("several frames in one read are all decoded")
    func batched() throws {
        let payloads: [[UInt8]] = (1...20).map { [UInt8](repeating: UInt8($0), count: $0) }
        let channel = decoderChannel()
        try channel.writeInbound(channel.allocator.buffer(bytes: payloads.flatMap(wireFrame)))
        var decoded: [[UInt8]] = []
        while let frame = try channel.readInbound(as: ByteBuffer.self) { decoded.append(Array(frame.readableBytesView)) }
        #expect(decoded == payloads)
    }

    @Test("an oversize length is rejected as soon as its fourth byte arrives, before any payload")
    func oversizeRejectedImmediately() throws {
        let channel = decoderChannel()
        let length = UInt32(PeerLimits.frameBytesMax + 1)
        let prefix: [UInt8] = [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        for byte in prefix.dropLast() {
            try channel.writeInbound(channel.allocator.buffer(bytes: [byte]))
        }
        expectNetworkError(.frameTooLarge) {
            try channel.writeInbound(channel.allocator.buffer(bytes: [prefix[3]]))
        }
        _ = try? channel.finish()
    }

    @Test("the largest frame is accepted and one byte more is not")
    func limitIsInclusive() throws {
        let channel = decoderChannel(FrameDecoder(frameBytesMax: 1000))
        try channel.writeInbound(channel.allocator.buffer(bytes: wireFrame([UInt8](repeating: 7, count: 1000))))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 1000)
        expectNetworkError(.frameTooLarge) {
            try channel.writeInbound(channel.allocator.buffer(bytes: wireFrame([UInt8](repeating: 7, count: 1001))))
        }
        _ = try? channel.finish()
    }

    @Test("a zero-length frame is rejected")
    func zeroLength() throws {
        let channel = decoderChannel()
        expectNetworkError(.emptyFrame) {
            try channel.writeInbound(channel.allocator.buffer(bytes: [0, 0, 0, 0, 1, 2, 3]))
        }
        _ = try? channel.finish()
    }

    @Test("garbage (an HTTP request, a maximal prefix) is rejected at its first four bytes")
    func garbage() throws {
        for garbage in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [0xff, 0xff, 0xff, 0xff, 0x00]] {
            let channel = decoderChannel()
            expectNetworkError(.frameTooLarge) {
                try channel.writeInbound(channel.allocator.buffer(bytes: garbage))
            }
            _ = try? channel.finish()
        }
    }

    @Test("the first two frames are held to the handshake limit, later ones to the frame limit")
    func handshakeLimit() throws {
        let channel = decoderChannel(FrameDecoder(frameBytesMax: 10_000, handshakeFrameBytesMax: 256))
        try channel.writeInbound(channel.allocator.buffer(bytes: wireFrame([UInt8](repeating: 1, count: 256))))
        try channel.writeInbound(channel.allocator.buffer(bytes: wireFrame([UInt8](repeating: 2, count: 64))))
        try channel.writeInbound(channel.allocator.buffer(bytes: wireFrame([UInt8](repeating: 3, count: 5_000))))
        var sizes: [Int] = []
        while let frame = try channel.readInbound(as: ByteBuffer.self) { sizes.append(frame.readableBytes) }
        #expect(sizes == [256, 64, 5_000])

        let early = decoderChannel(FrameDecoder(frameBytesMax: 10_000, handshakeFrameBytesMax: 256))
        expectNetworkError(.frameTooLarge) {
            try early.writeInbound(early.allocator.buffer(bytes: wireFrame([UInt8](repeating: 1, count: 257))))
        }
        _ = try? early.finish()
    }

    @Test("the encoder refuses empty and oversize frames")
    func encoderLimits() throws {
        // A failed encode leaves MessageToByteHandler in an error state, so one channel each.
        let empty = EmbeddedChannel(handler: MessageToByteHandler(FrameEncoder(frameBytesMax: 100)))
        expectNetworkError(.emptyFrame) { try empty.writeOutbound(empty.allocator.buffer(bytes: [])) }
        _ = try? empty.finish()
        let large = EmbeddedChannel(handler: MessageToByteHandler(FrameEncoder(frameBytesMax: 100)))
        expectNetworkError(.frameTooLarge) {
            try large.writeOutbound(large.allocator.buffer(bytes: [UInt8](repeating: 0, count: 101)))
        }
        _ = try? large.finish()
    }

    @Test("a partial frame at end of stream is discarded without error")
    func partialAtEOF() throws {
        let channel = decoderChannel()
        try channel.writeInbound(channel.allocator.buffer(bytes: [0, 0, 0, 9, 1, 2]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
