import NIOCore
import SocaiCore

/// Runs the handshake on a connection, then encrypts every outgoing message and decrypts
/// every incoming frame.
///
/// Inbound it takes frames (from `FrameDecoder`) and passes on `PeerMessage`s; outbound it
/// takes message payloads (`[UInt8]`) and passes on sealed frame payloads (to
/// `FrameEncoder`). On the first error of any kind (a bad frame from the decoder below, a
/// failed handshake, a missed deadline, a frame that fails authentication) it fires the
/// error down the pipeline and closes the connection: a session never continues after a
/// failure, and only this one connection is affected.
public final class PeerSessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    /// Frame payloads from `FrameDecoder`.
    public typealias InboundIn = ByteBuffer
    /// Decrypted messages with the authenticated peer.
    public typealias InboundOut = PeerMessage
    /// Message payloads to send.
    public typealias OutboundIn = [UInt8]
    /// Frame payloads for `FrameEncoder`.
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case created(HandshakeStateMachine)
        case handshaking(HandshakeStateMachine)
        case established(peer: PublicKey, cipher: FrameCipher)
        case closed
    }

    private var state: State
    private let handshakeDeadline: TimeAmount
    private var deadlineTask: Scheduled<Void>?

    /// Wraps a handshake that has not started; it starts when the channel is active.
    public init(handshake: HandshakeStateMachine, handshakeDeadline: TimeAmount) {
        precondition(handshakeDeadline > .zero, "the handshake deadline must be positive")
        state = .created(handshake)
        self.handshakeDeadline = handshakeDeadline
    }

    /// The authenticated peer, once the handshake has finished.
    public var peer: PublicKey? {
        if case .established(let peer, _) = state { return peer }
        return nil
    }

    /// Starts at once if the channel is already connected.
    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context: context) }
    }

    /// Cancels the deadline.
    public func handlerRemoved(context: ChannelHandlerContext) {
        deadlineTask?.cancel()
        deadlineTask = nil
    }

    /// Sends Hello and starts the deadline.
    public func channelActive(context: ChannelHandlerContext) {
        begin(context: context)
        context.fireChannelActive()
    }

    /// Stops everything: a closed session is never reused.
    public func channelInactive(context: ChannelHandlerContext) {
        deadlineTask?.cancel()
        deadlineTask = nil
        state = .closed
        context.fireChannelInactive()
    }

    private func begin(context: ChannelHandlerContext) {
        guard case .created(var handshake) = state else { return }
        let hello = handshake.start()
        state = .handshaking(handshake)
        deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(in: handshakeDeadline) { [weak self] in
            guard let self, case .handshaking = self.state else { return }
            self.fail(
                context: context,
                NetworkError(
                    .handshakeTimeout, "the handshake did not finish within \(self.handshakeDeadline.nanoseconds / 1_000_000) ms")
            )
        }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: hello)), promise: nil)
    }

    /// Feeds handshake frames to the state machine, then decrypts session frames.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        let bytes = frame.readBytes(length: frame.readableBytes) ?? []
        switch state {
        case .created, .closed:
            // Nothing arrives before channelActive; after a failure the rest is ignored.
            return
        case .handshaking(var handshake):
            let step: HandshakeStateMachine.Step
            do throws(NetworkError) {
                step = try handshake.receive(bytes)
            } catch {
                fail(context: context, error)
                return
            }
            switch step {
            case .send(let auth):
                state = .handshaking(handshake)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: auth)), promise: nil)
            case .established(let outcome):
                deadlineTask?.cancel()
                deadlineTask = nil
                state = .established(peer: outcome.peer, cipher: outcome.cipher)
                context.fireUserInboundEventTriggered(PeerSessionEvent.established(peer: outcome.peer))
            }
        case .established(let peer, var cipher):
            let message: [UInt8]
            do throws(NetworkError) {
                message = try cipher.open(bytes)
            } catch {
                fail(context: context, error)
                return
            }
            state = .established(peer: peer, cipher: cipher)
            context.fireChannelRead(wrapInboundOut(PeerMessage(peer: peer, payload: message)))
        }
    }

    /// Seals a message; refuses (failing the write's promise) before the handshake is done.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        guard case .established(let peer, var cipher) = state else {
            promise?.fail(NetworkError(.notEstablished, "a message was written before the handshake finished"))
            return
        }
        let frame: [UInt8]
        do throws(NetworkError) {
            frame = try cipher.seal(message)
        } catch {
            promise?.fail(error)
            // An oversized message is the caller's mistake and leaves the session intact;
            // an exhausted counter ends it.
            if error.code == .counterExhausted { fail(context: context, error) }
            return
        }
        state = .established(peer: peer, cipher: cipher)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame)), promise: promise)
    }

    /// Any error from below (the frame decoder) or from the socket ends the session.
    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context: context, error)
    }

    private func fail(context: ChannelHandlerContext, _ error: Error) {
        if case .closed = state { return }
        state = .closed
        deadlineTask?.cancel()
        deadlineTask = nil
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

/// Builds the pipeline of a peer connection: frame decoder, frame encoder, session.
public enum PeerPipeline {
    /// Adds the three handlers to `channel`, which must be on its event loop; the handshake
    /// starts when (or, if already, as soon as) the channel is active.
    public static func configure(
        _ channel: Channel, handshake: HandshakeStateMachine,
        handshakeDeadline: TimeAmount = .milliseconds(PeerLimits.handshakeDeadlineMilliseconds)
    ) throws {
        let decoder = FrameDecoder(
            frameBytesMax: PeerLimits.frameBytesMax, handshakeFrameBytesMax: PeerLimits.handshakeFrameBytesMax)
        try channel.pipeline.syncOperations.addHandlers([
            // The buffer bound is a second line of defence behind the decoder's own check.
            ByteToMessageHandler(decoder, maximumBufferSize: PeerLimits.frameLengthPrefixBytes + PeerLimits.frameBytesMax),
            MessageToByteHandler(FrameEncoder()),
            PeerSessionHandler(handshake: handshake, handshakeDeadline: handshakeDeadline),
        ])
    }
}
