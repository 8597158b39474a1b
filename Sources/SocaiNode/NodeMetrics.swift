import Prometheus

/// A node's metrics in a Prometheus registry (swift-prometheus), rendered for `GET /metrics`
/// in the text exposition format.
///
/// Counters and gauges are updated where the events happen (commit, sync, a malformed
/// message); values that are cheaper to read than to track (mempool size, connected peers)
/// are set just before rendering.
public final class NodeMetrics: Sendable {
    /// Upper bounds, in seconds, of the block interval histogram's buckets.
    public static let blockIntervalBucketsSeconds: [Double] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30]

    /// The registry every metric below belongs to.
    public let registry = PrometheusCollectorRegistry()
    /// Committed height.
    public let height: Gauge
    /// Consensus round at the next height.
    public let round: Gauge
    /// Transactions committed since the process started.
    public let transactionsCommitted: Counter
    /// Transactions waiting in the mempool.
    public let mempoolTransactions: Gauge
    /// Connected peers.
    public let peers: Gauge
    /// Milliseconds between the last two committed blocks' times.
    public let blockIntervalMilliseconds: Gauge
    /// Distribution of the intervals between committed blocks' times, in seconds.
    public let blockIntervalSeconds: ValueHistogram
    /// Blocks applied through block sync since the process started.
    public let blocksSynced: Counter
    /// Peer messages that did not decode.
    public let malformedMessages: Counter
    /// Gossiped transaction messages dropped because too many waited for their signature checks.
    public let gossipMessagesDropped: Counter
    /// Other peer messages (proposals, votes, status, sync) dropped because too many waited.
    public let consensusMessagesDropped: Counter

    /// Registers every metric.
    public init() {
        height = registry.makeGauge(descriptor: Self.named("height", "Committed height."))
        round = registry.makeGauge(descriptor: Self.named("round", "Consensus round at the next height."))
        transactionsCommitted = registry.makeCounter(
            descriptor: Self.named("transactions_committed_total", "Transactions committed since start."))
        mempoolTransactions = registry.makeGauge(
            descriptor: Self.named("mempool_transactions", "Transactions waiting in the mempool."))
        peers = registry.makeGauge(descriptor: Self.named("peers", "Connected peers."))
        blockIntervalMilliseconds = registry.makeGauge(
            descriptor: Self.named("block_interval_milliseconds", "Time between the last two blocks."))
        blockIntervalSeconds = registry.makeValueHistogram(
            descriptor: Self.named("block_interval_seconds", "Intervals between committed blocks' times."),
            buckets: Self.blockIntervalBucketsSeconds)
        blocksSynced = registry.makeCounter(
            descriptor: Self.named("blocks_synced_total", "Blocks applied through block sync since start."))
        malformedMessages = registry.makeCounter(
            descriptor: Self.named("peer_messages_malformed_total", "Peer messages that did not decode."))
        gossipMessagesDropped = registry.makeCounter(
            descriptor: Self.named(
                "gossip_messages_dropped_total", "Gossiped transaction messages dropped while too many waited."))
        consensusMessagesDropped = registry.makeCounter(
            descriptor: Self.named(
                "consensus_messages_dropped_total", "Proposals, votes and other peer messages dropped while too many waited."))
    }

    /// The metric `socai_<name>`: the unit, where there is one, is already the end of `name`.
    private static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "socai", metricName: name, unitName: "", helpText: help)
    }

    /// The text exposition of every metric.
    public func render() -> String { registry.emitToString() }
}
