import NIOCore
import NIOPosix
import SocaiCore
import SocaiCrypto

// The only file of SocaiNetwork that opens sockets. Everything the wire carries is decided
// in FrameCodec, Handshake, FrameCipher and PeerSessionHandler, which import only NIOCore.

/// A peer this node dials and accepts: its name, node key and listener address.
///
/// SocaiNode's `PeerAddress` maps onto `init(name:publicKeyHex:address:)`.
public struct PeerEndpoint: Sendable, Equatable {
    /// The peer's name, for logs.
    public var name: String
    /// The peer's node key; only this key is accepted from the peer.
    public var publicKey: PublicKey
    /// Host name or address of the peer's listener.
    public var host: String
    /// TCP port of the peer's listener, 1 ... 65535.
    public var port: Int

    /// Creates an endpoint.
    public init(name: String, publicKey: PublicKey, host: String, port: Int) {
        self.name = name
        self.publicKey = publicKey
        self.host = host
        self.port = port
    }

    /// Parses a configuration entry: a key of 64 lowercase hex digits and `host:port`
    /// (an IPv6 host may be written in brackets, `[::1]:26656`).
    public init(name: String, publicKeyHex: String, address: String) throws(NetworkError) {
        let key: PublicKey
        do throws(FormatError) { key = try PublicKey(hex: publicKeyHex) } catch {
            throw NetworkError(.invalidConfiguration, "peer \(name): \(error.message)")
        }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw NetworkError(.invalidConfiguration, "peer \(name): address \"\(address)\" is not host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw NetworkError(.invalidConfiguration, "peer \(name): address \"\(address)\" has no host")
        }
        self.init(name: name, publicKey: key, host: host, port: port)
    }
}

/// One line of the network's log: what happened, to which peer, and the error if any.
public struct PeerLogRecord: Sendable, CustomStringConvertible {
    /// How much the line matters.
    public enum Level: String, Sendable, Equatable {
        /// Routine: dial attempts that failed while a peer is down, duplicate connections closed.
        case debug
        /// Connections established and lost.
        case info
        /// A peer or stranger misbehaved (bad frame, failed handshake, failed decryption) and
        /// its connection was closed.
        case warning
    }

    /// How much the line matters.
    public let level: Level
    /// A one-line description.
    public let message: String
    /// The peer concerned, when known (for an inbound stranger it is not).
    public let peer: PublicKey?
    /// The protocol error that closed a connection, when there was one.
    public let error: NetworkError?

    /// Creates a record.
    public init(level: Level, message: String, peer: PublicKey?, error: NetworkError?) {
        self.level = level
        self.message = message
        self.peer = peer
        self.error = error
    }

    /// `level: message`.
    public var description: String { "\(level.rawValue): \(message)" }
}

/// Everything a `PeerNetwork` needs: identity, chain, listener, peers and limits.
public struct PeerNetworkConfiguration: Sendable {
    /// The chain; a peer on another chain is refused.
    public var chainID: ChainID
    /// This node's key, which signs its side of every handshake.
    public var nodeKey: SigningKey
    /// Address the listener binds, for example `127.0.0.1` or `0.0.0.0`.
    public var listenHost: String
    /// Port the listener binds; 0 picks a free port (see `PeerNetwork.start()`).
    public var listenPort: Int
    /// The peers: every one is dialed, and only these keys are accepted.
    public var peers: [PeerEndpoint]
    /// Time allowed for a handshake, in milliseconds.
    public var handshakeDeadlineMilliseconds = PeerLimits.handshakeDeadlineMilliseconds
    /// Time allowed for a TCP connection attempt, in milliseconds.
    public var connectTimeoutMilliseconds = PeerLimits.connectTimeoutMilliseconds
    /// First redial delay, in milliseconds; it doubles after each failure.
    public var reconnectDelayMillisecondsMin = PeerLimits.reconnectDelayMillisecondsMin
    /// Longest redial delay, in milliseconds.
    public var reconnectDelayMillisecondsMax = PeerLimits.reconnectDelayMillisecondsMax
    /// Most messages queued for one peer.
    public var sendQueueFramesMax = PeerLimits.sendQueueFramesMax
    /// Most bytes queued for one peer.
    public var sendQueueBytesMax = PeerLimits.sendQueueBytesMax
    /// Most received messages buffered in `PeerNetwork.messages`.
    public var incomingMessagesMax = PeerLimits.incomingMessagesMax
    /// Most inbound connections still handshaking.
    public var pendingInboundConnectionsMax = PeerLimits.pendingInboundConnectionsMax
    /// How long a peer disconnected for misbehaving is refused, in milliseconds.
    public var misbehaviorRefusalMilliseconds = PeerLimits.misbehaviorRefusalMilliseconds
    /// Receives every log line; called on the network's event loop, so it must not block.
    public var log: @Sendable (PeerLogRecord) -> Void

    /// Creates a configuration with the default limits.
    public init(
        chainID: ChainID, nodeKey: SigningKey, listenHost: String, listenPort: Int, peers: [PeerEndpoint],
        log: @escaping @Sendable (PeerLogRecord) -> Void = { _ in }
    ) {
        self.chainID = chainID
        self.nodeKey = nodeKey
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.peers = peers
        self.log = log
    }

    /// Throws unless ports are in range, peer keys are distinct and not this node's, and
    /// every limit lies between 1 and its `PeerLimits` ceiling (a configuration may tighten
    /// the limits, never loosen them).
    public func validate() throws(NetworkError) {
        guard (0...65535).contains(listenPort) else {
            throw NetworkError(.invalidConfiguration, "listen port \(listenPort) is outside 0...65535")
        }
        var seen = Set<PublicKey>()
        let ownKey = PublicKey(of: nodeKey)
        for peer in peers {
            guard (1...65535).contains(peer.port), !peer.host.isEmpty else {
                throw NetworkError(.invalidConfiguration, "peer \(peer.name): address \(peer.host):\(peer.port) is invalid")
            }
            guard peer.publicKey != ownKey else {
                throw NetworkError(.invalidConfiguration, "peer \(peer.name) has this node's own key")
            }
            guard seen.insert(peer.publicKey).inserted else {
                throw NetworkError(.invalidConfiguration, "peer key \(peer.publicKey) is listed twice")
            }
        }
        let bounds: [(String, Int64, Int64)] = [
            ("handshakeDeadlineMilliseconds", handshakeDeadlineMilliseconds, PeerLimits.handshakeDeadlineMilliseconds),
            ("connectTimeoutMilliseconds", connectTimeoutMilliseconds, PeerLimits.connectTimeoutMilliseconds),
            ("reconnectDelayMillisecondsMin", reconnectDelayMillisecondsMin, reconnectDelayMillisecondsMax),
            ("reconnectDelayMillisecondsMax", reconnectDelayMillisecondsMax, PeerLimits.reconnectDelayMillisecondsMax),
            ("sendQueueFramesMax", Int64(sendQueueFramesMax), Int64(PeerLimits.sendQueueFramesMax)),
            ("incomingMessagesMax", Int64(incomingMessagesMax), Int64(PeerLimits.incomingMessagesMax)),
            ("pendingInboundConnectionsMax", Int64(pendingInboundConnectionsMax), Int64(PeerLimits.pendingInboundConnectionsMax)),
            ("misbehaviorRefusalMilliseconds", misbehaviorRefusalMilliseconds, PeerLimits.misbehaviorRefusalMilliseconds),
        ]
        for (name, value, ceiling) in bounds where value < 1 || value > ceiling {
            throw NetworkError(.invalidConfiguration, "\(name) is \(value); it must be 1...\(ceiling)")
        }
        // One largest message must always fit, or it could never be sent.
        guard sendQueueBytesMax >= PeerLimits.messageBytesMax, sendQueueBytesMax <= PeerLimits.sendQueueBytesMax else {
            throw NetworkError(
                .invalidConfiguration,
                "sendQueueBytesMax is \(sendQueueBytesMax); it must be \(PeerLimits.messageBytesMax)...\(PeerLimits.sendQueueBytesMax)"
            )
        }
    }
}

/// The state of one configured peer, as `PeerNetwork.statistics()` reports it.
public struct PeerStatus: Sendable, Equatable {
    /// The peer's configured name.
    public let name: String
    /// The peer's node key.
    public let publicKey: PublicKey
    /// Whether an authenticated session is up.
    public let isConnected: Bool
    /// Messages waiting in the send queue.
    public let queuedMessages: Int
    /// Bytes waiting in the send queue.
    public let queuedBytes: Int
    /// Messages handed to a connection (written; delivery is not confirmed).
    public let messagesSent: Int
    /// Messages received from the peer.
    public let messagesReceived: Int
    /// Messages dropped from the full send queue (the oldest go first).
    public let messagesDropped: Int
    /// Sessions established with the peer so far.
    public let sessionsEstablished: Int
    /// Times the node disconnected the peer for misbehaving (`PeerNetwork.disconnect`).
    public let disconnectsForMisbehavior: Int
}

/// Counters of the whole network.
public struct PeerNetworkStatistics: Sendable, Equatable {
    /// One entry per configured peer, in configuration order.
    public let peers: [PeerStatus]
    /// Received messages dropped because `messages` was full (the oldest go first).
    public let incomingMessagesDropped: Int
    /// Inbound connections closed at once because too many were still handshaking.
    public let inboundConnectionsRefused: Int
    /// Connections closed because of a protocol error (bad frame, handshake, decryption).
    public let connectionsFailed: Int
}

/// The peer-to-peer transport of a validator: listens for and dials the configured peers
/// over TCP, authenticates and encrypts every connection, and keeps one session per peer.
///
/// - **One connection per peer.** When both sides dial at once, both keep the connection
///   dialed by the lower public key (byte order) and close the other, so they agree without
///   talking. A new connection dialed by the same side as the current one replaces it (the
///   peer restarted).
/// - **Reconnect.** A peer without a session is redialed after a delay that starts at
///   `reconnectDelayMillisecondsMin` and doubles up to `reconnectDelayMillisecondsMax`; it
///   resets when a session is established in either direction. The side with the higher key
///   dials `reconnectDelayMillisecondsMin` later than the lower (also at start), so the
///   connection the tie-break keeps is usually the only one made.
/// - **Sending.** `send(_:to:)` and `broadcast(_:)` never block: each peer has a send queue
///   bounded in messages and bytes, kept while the peer is down and drained while its
///   socket buffer is below the high-water mark. When the queue is full the *oldest* message
///   is dropped and counted: for consensus traffic the newest message is the useful one.
///   Delivery is at most once: a message written to a connection that then breaks is lost.
/// - **Receiving.** Messages arrive in `messages` (one consumer), bounded by
///   `incomingMessagesMax`; when the consumer falls behind the oldest buffered message is
///   dropped and counted.
/// - **Faults.** A connection that sends a bad frame, fails the handshake or its deadline,
///   or fails decryption is closed and logged; nothing else is affected. A peer whose
///   messages the node finds bad (malformed, or signed wrongly) is cut off by
///   `disconnect(_:reason:)` and refused for `misbehaviorRefusalMilliseconds`.
///
/// All state lives on one event loop taken from the group; every socket of the network
/// uses that loop too, so no lock is needed and events are handled in order.
public final class PeerNetwork: Sendable {
    /// The configuration the network was created with.
    public let configuration: PeerNetworkConfiguration
    /// Every message received from an authenticated peer. Finishes after `shutdown()`.
    public let messages: AsyncStream<PeerMessage>

    private let loop: EventLoop
    private let ownKey: PublicKey
    private let peerKeys: Set<PublicKey>
    private let continuation: AsyncStream<PeerMessage>.Continuation
    private let state: NIOLoopBoundBox<NetworkState>

    /// Validates the configuration and prepares the network; nothing is opened until
    /// `start()`. The group must outlive the network; the default is NIO's shared group.
    public init(
        configuration: PeerNetworkConfiguration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(NetworkError) {
        try configuration.validate()
        self.configuration = configuration
        ownKey = PublicKey(of: configuration.nodeKey)
        peerKeys = Set(configuration.peers.map(\.publicKey))
        let (stream, continuation) = AsyncStream.makeStream(
            of: PeerMessage.self, bufferingPolicy: .bufferingNewest(configuration.incomingMessagesMax))
        messages = stream
        self.continuation = continuation
        loop = group.next()
        state = .makeBoxSendingValue(NetworkState(configuration: configuration), eventLoop: loop)
    }

    // MARK: Public API

    /// Binds the listener and starts dialing every peer; returns the port bound (useful with
    /// `listenPort` 0). Can be called once; a stopped network is not restarted — make a new one.
    @discardableResult
    public func start() async throws(NetworkError) -> Int {
        let bound: EventLoopFuture<Channel> = loop.flatSubmit { [self] in
            let network = state.value
            guard network.phase == .created else {
                return loop.makeFailedFuture(NetworkError(.shutDown, "the network was already started"))
            }
            network.phase = .running
            let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
                low: PeerLimits.writeBufferBytesLow, high: PeerLimits.writeBufferBytesHigh)
            return ServerBootstrap(group: loop)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: waterMark)
                .childChannelInitializer { [self] channel in acceptInbound(channel) }
                .bind(host: configuration.listenHost, port: configuration.listenPort)
        }
        let server: Channel
        do {
            server = try await bound.get()
        } catch {
            loop.execute { [self] in state.value.phase = .stopped }
            if let error = error as? NetworkError { throw error }
            throw NetworkError(
                .bindFailed, "cannot listen on \(configuration.listenHost):\(configuration.listenPort): \(error)")
        }
        let port = server.localAddress?.port ?? configuration.listenPort
        loop.execute { [self] in
            let network = state.value
            guard network.phase == .running else {
                server.close(promise: nil)
                return
            }
            network.server = server
            log(.info, "listening on \(configuration.listenHost):\(port)")
            for key in network.order {
                // The lower key dials at once and the higher after a delay, so on a normal
                // start the connection both sides keep (the lower key's) comes first.
                if ownKey < key { dial(key) } else { scheduleReconnect(key) }
            }
        }
        return port
    }

    /// Queues `payload` for `peer`. Returns at once; see the type's notes on queueing.
    public func send(_ payload: [UInt8], to peer: PublicKey) throws(NetworkError) {
        guard payload.count <= PeerLimits.messageBytesMax else {
            throw NetworkError(.messageTooLarge, "a \(payload.count)-byte message exceeds \(PeerLimits.messageBytesMax) bytes")
        }
        guard peerKeys.contains(peer) else {
            throw NetworkError(.unknownPeer, "\(peer) is not a configured peer")
        }
        loop.execute { [self] in enqueue(payload, for: peer) }
    }

    /// Queues `payload` for every configured peer but `excluded` (the peer a relayed message
    /// came from, which has it already).
    public func broadcast(_ payload: [UInt8], except excluded: PublicKey? = nil) throws(NetworkError) {
        guard payload.count <= PeerLimits.messageBytesMax else {
            throw NetworkError(.messageTooLarge, "a \(payload.count)-byte message exceeds \(PeerLimits.messageBytesMax) bytes")
        }
        loop.execute { [self] in
            for key in state.value.order where key != excluded { enqueue(payload, for: key) }
        }
    }

    /// Closes the session with `peer`, whose messages the node found bad (`reason` is
    /// logged), and refuses it for `misbehaviorRefusalMilliseconds`: it is not dialed, and a
    /// session it opens is closed, until then. Its queued messages are kept. Other peers are
    /// not affected. Returns at once.
    public func disconnect(_ peer: PublicKey, reason: String) {
        loop.execute { [self] in
            let network = state.value
            guard network.phase == .running, let slot = network.peers[peer] else { return }
            slot.refusedUntil = .now() + .milliseconds(configuration.misbehaviorRefusalMilliseconds)
            slot.disconnectsForMisbehavior += 1
            log(
                .warning,
                "disconnecting \(slot.endpoint.name) for \(configuration.misbehaviorRefusalMilliseconds) ms: \(reason)",
                peer: peer)
            slot.reconnectTask?.cancel()
            slot.reconnectTask = nil
            slot.active?.channel.close(promise: nil)
            slot.dialChannel?.close(promise: nil)
            if slot.active == nil, slot.dialChannel == nil { scheduleReconnect(peer) }
        }
    }

    /// The peers with an authenticated session now, in configuration order.
    public func connectedPeers() async -> [PublicKey] {
        let future = loop.submit { [self] in
            let network = state.value
            return network.order.filter { network.peers[$0]?.active != nil }
        }
        return (try? await future.get()) ?? []
    }

    /// Per-peer and network-wide counters.
    public func statistics() async -> PeerNetworkStatistics {
        let future = loop.submit { [self] in
            let network = state.value
            let peers = network.order.compactMap { key -> PeerStatus? in
                guard let slot = network.peers[key] else { return nil }
                return PeerStatus(
                    name: slot.endpoint.name, publicKey: key, isConnected: slot.active != nil,
                    queuedMessages: slot.queue.count, queuedBytes: slot.queuedBytes, messagesSent: slot.messagesSent,
                    messagesReceived: slot.messagesReceived, messagesDropped: slot.messagesDropped,
                    sessionsEstablished: slot.sessionsEstablished, disconnectsForMisbehavior: slot.disconnectsForMisbehavior)
            }
            return PeerNetworkStatistics(
                peers: peers, incomingMessagesDropped: network.incomingMessagesDropped,
                inboundConnectionsRefused: network.inboundConnectionsRefused, connectionsFailed: network.connectionsFailed)
        }
        return (try? await future.get())
            ?? PeerNetworkStatistics(peers: [], incomingMessagesDropped: 0, inboundConnectionsRefused: 0, connectionsFailed: 0)
    }

    /// Stops dialing, closes the listener and every connection (messages still queued are
    /// dropped), waits until all sockets are closed, then finishes `messages`. Safe to call
    /// more than once, and before `start()`.
    public func shutdown() async {
        let closed: EventLoopFuture<Void> = loop.flatSubmit { [self] in beginShutdown() }
        try? await closed.get()
        continuation.finish()
    }

    // MARK: Connections (all on `loop`)

    private func acceptInbound(_ channel: Channel) -> EventLoopFuture<Void> {
        let network = state.value
        guard network.phase == .running else {
            return loop.makeFailedFuture(NetworkError(.shutDown, "the network is shutting down"))
        }
        guard network.pendingInbound < configuration.pendingInboundConnectionsMax else {
            network.inboundConnectionsRefused += 1
            log(.warning, "refused a connection from \(describe(channel.remoteAddress)): too many handshakes in progress")
            return loop.makeFailedFuture(NetworkError(.connectionLimit, "too many inbound handshakes"))
        }
        let handshake = HandshakeStateMachine(
            role: .responder, chainID: configuration.chainID, nodeKey: configuration.nodeKey, allowedPeers: peerKeys,
            refusedPeers: refusedPeers())
        do {
            try configure(channel, handshake: handshake)
        } catch {
            return loop.makeFailedFuture(error)
        }
        network.pendingInbound += 1
        track(channel, ConnectionRecord(channel: channel, outbound: false, expectedPeer: nil, pending: true))
        return loop.makeSucceededVoidFuture()
    }

    /// The peers refused now (`disconnect`); on `loop`.
    private func refusedPeers() -> Set<PublicKey> {
        let now = NIODeadline.now()
        return Set(state.value.peers.compactMap { key, slot in slot.isRefused(at: now) ? key : nil })
    }

    private func prepareOutbound(_ channel: Channel, peer: PublicKey) -> EventLoopFuture<Void> {
        let network = state.value
        guard network.phase == .running, let slot = network.peers[peer] else {
            return loop.makeFailedFuture(NetworkError(.shutDown, "the network is shutting down"))
        }
        let handshake = HandshakeStateMachine(
            role: .initiator, chainID: configuration.chainID, nodeKey: configuration.nodeKey, allowedPeers: peerKeys,
            expectedPeer: peer)
        do {
            try configure(channel, handshake: handshake)
        } catch {
            return loop.makeFailedFuture(error)
        }
        slot.dialChannel = channel
        track(channel, ConnectionRecord(channel: channel, outbound: true, expectedPeer: peer, pending: true))
        return loop.makeSucceededVoidFuture()
    }

    private func configure(_ channel: Channel, handshake: HandshakeStateMachine) throws {
        try PeerPipeline.configure(
            channel, handshake: handshake, handshakeDeadline: .milliseconds(configuration.handshakeDeadlineMilliseconds))
        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(network: self))
    }

    private func track(_ channel: Channel, _ record: ConnectionRecord) {
        state.value.connections[ObjectIdentifier(channel)] = record
        channel.closeFuture.whenComplete { [self] _ in channelClosed(channel) }
    }

    private func dial(_ key: PublicKey) {
        let network = state.value
        guard network.phase == .running, let slot = network.peers[key], slot.active == nil, !slot.dialing,
            slot.reconnectTask == nil
        else { return }
        slot.dialing = true
        let endpoint = slot.endpoint
        let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
            low: PeerLimits.writeBufferBytesLow, high: PeerLimits.writeBufferBytesHigh)
        ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(configuration.connectTimeoutMilliseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: waterMark)
            .channelInitializer { [self] channel in prepareOutbound(channel, peer: key) }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenFailure { [self] error in
                // A refused connection is routine while a peer is down: debug, not warning.
                let slot = state.value.peers[key]
                slot?.dialing = false
                slot?.dialChannel = nil
                log(.debug, "dial \(endpoint.name) at \(endpoint.host):\(endpoint.port) failed: \(error)", peer: key)
                scheduleReconnect(key)
            }
    }

    private func scheduleReconnect(_ key: PublicKey) {
        let network = state.value
        guard network.phase == .running, let slot = network.peers[key], slot.active == nil, !slot.dialing,
            slot.reconnectTask == nil
        else { return }
        let backoff = slot.reconnectDelayMilliseconds
        slot.reconnectDelayMilliseconds = min(backoff * 2, configuration.reconnectDelayMillisecondsMax)
        // The side with the higher key waits a little longer, so that when both sides redial
        // the lower key's connection, the one the tie-break keeps, usually arrives first and
        // no message is written to a connection that is about to be closed. A refused peer
        // is not dialed before its refusal ends.
        let delay =
            max(backoff, slot.refusalLeftMilliseconds(at: .now()))
            + (ownKey < key ? 0 : configuration.reconnectDelayMillisecondsMin)
        slot.reconnectTask = loop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [self] in
            state.value.peers[key]?.reconnectTask = nil
            dial(key)
        }
    }

    fileprivate func sessionEstablished(_ channel: Channel, peer: PublicKey) {
        let network = state.value
        let id = ObjectIdentifier(channel)
        guard var record = network.connections[id] else { return }
        if record.pending, !record.outbound { network.pendingInbound -= 1 }
        record.pending = false
        record.peer = peer
        network.connections[id] = record
        guard network.phase == .running, let slot = network.peers[peer] else {
            channel.close(promise: nil)
            return
        }
        if record.outbound, slot.dialChannel === channel {
            slot.dialing = false
            slot.dialChannel = nil
        }
        if slot.isRefused(at: .now()) {
            log(.debug, "refusing a session with \(slot.endpoint.name): disconnected for misbehaving", peer: peer)
            channel.close(promise: nil)
            return
        }
        let direction = record.outbound ? "outbound" : "inbound"
        if let current = slot.active {
            // Both ends apply the same rule to the same two connections, so they keep the same one.
            let newInitiator = record.outbound ? ownKey : peer
            let currentInitiator = current.outbound ? ownKey : peer
            let keepNew = newInitiator == currentInitiator || newInitiator < currentInitiator
            if keepNew {
                log(.debug, "replacing the session with \(slot.endpoint.name) by a new \(direction) one", peer: peer)
                current.channel.close(promise: nil)
            } else {
                log(.debug, "closing a duplicate \(direction) connection with \(slot.endpoint.name)", peer: peer)
                channel.close(promise: nil)
                return
            }
        }
        slot.active = ActiveSession(channel: channel, outbound: record.outbound)
        slot.sessionsEstablished += 1
        slot.reconnectDelayMilliseconds = configuration.reconnectDelayMillisecondsMin
        slot.reconnectTask?.cancel()
        slot.reconnectTask = nil
        log(.info, "connected to \(slot.endpoint.name) (\(direction), \(describe(channel.remoteAddress)))", peer: peer)
        drain(slot)
    }

    fileprivate func connectionFailed(_ channel: Channel, error: Error) {
        let network = state.value
        let record = network.connections[ObjectIdentifier(channel)]
        let peer = record?.peer ?? record?.expectedPeer
        let networkError = error as? NetworkError
        let who = peer.flatMap { network.peers[$0]?.endpoint.name } ?? describe(channel.remoteAddress)
        if networkError?.code == .refusedPeer {
            // Expected while a refusal lasts: the peer redials with its usual backoff.
            log(.debug, "turned away \(who): \(error)", peer: peer)
        } else if networkError != nil || error is ByteToMessageDecoderError
            || error is ByteToMessageDecoderError.PayloadTooLargeError
        {
            network.connectionsFailed += 1
            log(.warning, "closed the connection with \(who): \(error)", peer: peer, error: networkError)
        } else {
            // Resets and other socket errors: the connection is gone, nobody misbehaved.
            log(.debug, "connection with \(who) failed: \(error)", peer: peer)
        }
    }

    private func channelClosed(_ channel: Channel) {
        let network = state.value
        guard let record = network.connections.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        if record.pending, !record.outbound { network.pendingInbound -= 1 }
        var affected: PublicKey? = record.peer
        if let expected = record.expectedPeer, let slot = network.peers[expected] {
            affected = expected
            if slot.dialChannel === channel {
                slot.dialing = false
                slot.dialChannel = nil
            }
        }
        if let peer = record.peer, let slot = network.peers[peer], slot.active?.channel === channel {
            slot.active = nil
            log(.info, "disconnected from \(slot.endpoint.name)", peer: peer)
        }
        if let affected { scheduleReconnect(affected) }
    }

    // MARK: Messages (all on `loop`)

    private func enqueue(_ payload: [UInt8], for key: PublicKey) {
        let network = state.value
        guard network.phase == .running || network.phase == .created, let slot = network.peers[key] else { return }
        slot.queue.append(payload)
        slot.queuedBytes += payload.count
        while slot.queue.count > configuration.sendQueueFramesMax || slot.queuedBytes > configuration.sendQueueBytesMax {
            let dropped = slot.queue.removeFirst()
            slot.queuedBytes -= dropped.count
            slot.messagesDropped += 1
        }
        drain(slot)
    }

    private func drain(_ slot: PeerSlot) {
        guard let channel = slot.active?.channel else { return }
        var wrote = false
        while channel.isWritable, let payload = slot.queue.popFirst() {
            slot.queuedBytes -= payload.count
            slot.messagesSent += 1
            channel.write(payload, promise: nil)
            wrote = true
        }
        if wrote { channel.flush() }
    }

    fileprivate func writable(_ channel: Channel) {
        let network = state.value
        guard let peer = network.connections[ObjectIdentifier(channel)]?.peer, let slot = network.peers[peer],
            slot.active?.channel === channel
        else { return }
        drain(slot)
    }

    fileprivate func deliver(_ message: PeerMessage) {
        let network = state.value
        network.peers[message.peer]?.messagesReceived += 1
        if case .dropped = continuation.yield(message) {
            network.incomingMessagesDropped += 1
        }
    }

    private func beginShutdown() -> EventLoopFuture<Void> {
        let network = state.value
        switch network.phase {
        case .stopped:
            return loop.makeSucceededVoidFuture()
        case .created:
            network.phase = .stopped
            return loop.makeSucceededVoidFuture()
        case .running, .stopping:
            break
        }
        network.phase = .stopping
        var closing: [EventLoopFuture<Void>] = []
        for slot in network.peers.values {
            slot.reconnectTask?.cancel()
            slot.reconnectTask = nil
        }
        if let server = network.server {
            server.close(promise: nil)
            closing.append(server.closeFuture)
        }
        // Closing can complete at once and remove records, so iterate over a copy.
        for record in Array(network.connections.values) {
            record.channel.close(promise: nil)
            closing.append(record.channel.closeFuture)
        }
        return EventLoopFuture.andAllComplete(closing, on: loop).map { [self] in
            let network = state.value
            network.phase = .stopped
            network.server = nil
            for slot in network.peers.values {
                slot.queue.removeAll()
                slot.queuedBytes = 0
            }
            log(.info, "shut down")
        }
    }

    private func log(_ level: PeerLogRecord.Level, _ message: String, peer: PublicKey? = nil, error: NetworkError? = nil) {
        configuration.log(PeerLogRecord(level: level, message: message, peer: peer, error: error))
    }

    private func describe(_ address: SocketAddress?) -> String {
        address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "an unknown address"
    }
}

/// The pipeline's last handler: hands session events and messages to the network.
private final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = PeerMessage

    private let network: PeerNetwork

    init(network: PeerNetwork) {
        self.network = network
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .established(let peer)? = event as? PeerSessionEvent {
            network.sessionEstablished(context.channel, peer: peer)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        network.deliver(unwrapInboundIn(data))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { network.writable(context.channel) }
        context.fireChannelWritabilityChanged()
    }

    // The session handler has already closed the connection; this only logs. The error
    // is not passed on, so it ends here.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        network.connectionFailed(context.channel, error: error)
    }
}

/// The mutable state of a `PeerNetwork`, touched only on its event loop.
private final class NetworkState {
    enum Phase { case created, running, stopping, stopped }

    var phase = Phase.created
    var peers: [PublicKey: PeerSlot] = [:]
    let order: [PublicKey]
    var server: Channel?
    var connections: [ObjectIdentifier: ConnectionRecord] = [:]
    var pendingInbound = 0
    var incomingMessagesDropped = 0
    var inboundConnectionsRefused = 0
    var connectionsFailed = 0

    init(configuration: PeerNetworkConfiguration) {
        order = configuration.peers.map(\.publicKey)
        for endpoint in configuration.peers {
            peers[endpoint.publicKey] = PeerSlot(
                endpoint: endpoint, reconnectDelayMilliseconds: configuration.reconnectDelayMillisecondsMin)
        }
    }
}

/// One open socket, from creation to close.
private struct ConnectionRecord {
    let channel: Channel
    let outbound: Bool
    /// For an outbound connection, the peer dialed.
    let expectedPeer: PublicKey?
    /// True until the handshake finishes.
    var pending: Bool
    /// The authenticated peer, once the handshake finished.
    var peer: PublicKey? = nil
}

/// The connection that carries a peer's session.
private struct ActiveSession {
    let channel: Channel
    let outbound: Bool
}

/// Everything the network keeps about one configured peer.
private final class PeerSlot {
    let endpoint: PeerEndpoint
    var active: ActiveSession?
    var dialing = false
    var dialChannel: Channel?
    var reconnectTask: Scheduled<Void>?
    var reconnectDelayMilliseconds: Int64
    var queue = CircularBuffer<[UInt8]>()
    var queuedBytes = 0
    var messagesSent = 0
    var messagesReceived = 0
    var messagesDropped = 0
    var sessionsEstablished = 0
    /// Until when the peer is refused, after `PeerNetwork.disconnect`.
    var refusedUntil: NIODeadline?
    /// Times the node disconnected the peer for misbehaving.
    var disconnectsForMisbehavior = 0

    /// Whether the peer is refused at `now`.
    func isRefused(at now: NIODeadline) -> Bool { refusedUntil.map { $0 > now } ?? false }

    /// Whole milliseconds of refusal left at `now`, rounded up (0 when not refused), so a
    /// redial never lands just before the refusal ends.
    func refusalLeftMilliseconds(at now: NIODeadline) -> Int64 {
        refusedUntil.map { max(0, (($0 - now).nanoseconds + 999_999) / 1_000_000) } ?? 0
    }

    init(endpoint: PeerEndpoint, reconnectDelayMilliseconds: Int64) {
        self.endpoint = endpoint
        self.reconnectDelayMilliseconds = reconnectDelayMilliseconds
    }
}
