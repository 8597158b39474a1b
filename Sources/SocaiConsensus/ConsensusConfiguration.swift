import SocaiCore

/// Timeouts and memory bounds of the consensus state machine.
///
/// Timeouts grow linearly with the round (Algorithm 1 needs them to grow without bound so
/// that, after the network stabilizes, a round eventually lasts long enough for honest
/// messages to arrive): `timeout(round) = base + round × delta`. The defaults suit a local
/// network; CometBFT's production defaults are longer (propose 3 s + 0.5 s per round).
public struct ConsensusConfiguration: Hashable, Sendable {
    /// How long a validator waits for a proposal in round 0 before prevoting nil.
    public var timeoutProposeMilliseconds: UInt64
    /// How much longer the propose timeout is in each later round.
    public var timeoutProposeDeltaMilliseconds: UInt64
    /// How long a validator waits, after seeing prevotes from more than two thirds, for a polka.
    public var timeoutPrevoteMilliseconds: UInt64
    /// How much longer the prevote timeout is in each later round.
    public var timeoutPrevoteDeltaMilliseconds: UInt64
    /// How long a validator waits, after seeing precommits from more than two thirds, for a decision.
    public var timeoutPrecommitMilliseconds: UInt64
    /// How much longer the precommit timeout is in each later round.
    public var timeoutPrecommitDeltaMilliseconds: UInt64

    /// Messages for rounds beyond the current round plus this many are dropped: a faulty
    /// validator cannot make a node store votes for arbitrarily distant rounds.
    public var futureRoundsMax: UInt32
    /// Most rounds of the current height whose votes are kept. Past this, the oldest round
    /// without a polka for a block is forgotten (only liveness can suffer, never safety).
    public var roundsStoredMax: Int
    /// Most messages for the next height held until the driver starts that height.
    public var nextHeightMessagesMax: Int
    /// Most duplicate-vote evidence items kept and reported per height.
    public var evidencePerHeightMax: Int
    /// Most distinct blocks the machine asks the application to validate per height.
    public var blockValidationsPerHeightMax: Int

    /// Creates a configuration; the defaults suit a local network.
    public init(
        timeoutProposeMilliseconds: UInt64 = 1000, timeoutProposeDeltaMilliseconds: UInt64 = 500,
        timeoutPrevoteMilliseconds: UInt64 = 500, timeoutPrevoteDeltaMilliseconds: UInt64 = 250,
        timeoutPrecommitMilliseconds: UInt64 = 500, timeoutPrecommitDeltaMilliseconds: UInt64 = 250,
        futureRoundsMax: UInt32 = 10, roundsStoredMax: Int = 256, nextHeightMessagesMax: Int = 1024,
        evidencePerHeightMax: Int = Limits.blockEvidenceMax, blockValidationsPerHeightMax: Int = 1024
    ) {
        self.timeoutProposeMilliseconds = timeoutProposeMilliseconds
        self.timeoutProposeDeltaMilliseconds = timeoutProposeDeltaMilliseconds
        self.timeoutPrevoteMilliseconds = timeoutPrevoteMilliseconds
        self.timeoutPrevoteDeltaMilliseconds = timeoutPrevoteDeltaMilliseconds
        self.timeoutPrecommitMilliseconds = timeoutPrecommitMilliseconds
        self.timeoutPrecommitDeltaMilliseconds = timeoutPrecommitDeltaMilliseconds
        self.futureRoundsMax = futureRoundsMax
        self.roundsStoredMax = roundsStoredMax
        self.nextHeightMessagesMax = nextHeightMessagesMax
        self.evidencePerHeightMax = evidencePerHeightMax
        self.blockValidationsPerHeightMax = blockValidationsPerHeightMax
    }

    /// Throws unless every timeout is positive and the bounds leave room for the algorithm.
    public func validate() throws(ConsensusError) {
        guard timeoutProposeMilliseconds > 0, timeoutPrevoteMilliseconds > 0, timeoutPrecommitMilliseconds > 0 else {
            throw ConsensusError(.invalidConfiguration, "consensus timeouts must be positive")
        }
        guard futureRoundsMax >= 1 else {
            throw ConsensusError(.invalidConfiguration, "futureRoundsMax must be at least 1")
        }
        // Rounds at or above the current one (at most futureRoundsMax + 1) and the locked and
        // valid rounds are never evicted, so the store must hold more than all of them.
        guard roundsStoredMax >= Int(futureRoundsMax) + 4 else {
            throw ConsensusError(
                .invalidConfiguration, "roundsStoredMax \(roundsStoredMax) must be at least futureRoundsMax + 4")
        }
        guard nextHeightMessagesMax >= 0, evidencePerHeightMax >= 0, blockValidationsPerHeightMax >= 1 else {
            throw ConsensusError(.invalidConfiguration, "consensus buffer limits must not be negative")
        }
    }

    /// The timeout of `kind` in `round`: base + round × delta, saturating instead of overflowing.
    public func timeoutMilliseconds(_ kind: Timeout.Kind, round: UInt32) -> UInt64 {
        let base: UInt64
        let delta: UInt64
        switch kind {
        case .propose: (base, delta) = (timeoutProposeMilliseconds, timeoutProposeDeltaMilliseconds)
        case .prevote: (base, delta) = (timeoutPrevoteMilliseconds, timeoutPrevoteDeltaMilliseconds)
        case .precommit: (base, delta) = (timeoutPrecommitMilliseconds, timeoutPrecommitDeltaMilliseconds)
        }
        let (growth, growthOverflow) = delta.multipliedReportingOverflow(by: UInt64(round))
        let (total, totalOverflow) = base.addingReportingOverflow(growth)
        return growthOverflow || totalOverflow ? UInt64.max : total
    }
}

/// Why the consensus machine refused a configuration or a checkpoint.
public struct ConsensusError: Error, Equatable, CustomStringConvertible {
    /// The kind of refusal.
    public enum Code: String, Sendable, Equatable {
        /// A timeout or limit is out of range.
        case invalidConfiguration
        /// A checkpoint to resume from is inconsistent.
        case invalidCheckpoint
    }

    /// The kind of refusal.
    public let code: Code
    /// A one-line explanation.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}
