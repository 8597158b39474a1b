import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Submits a fixed list of requests, each once, as fast as the nodes answer: `connections`
/// keep-alive connections spread over the nodes' ports, each with one request in flight,
/// all driven by one poll loop on the calling thread. It is `LoopbackLoad`'s design for
/// distinct requests sent once. The generator shares the 2 cores with the validators it
/// measures, and a thread per connection cost it about 30 µs of processor time per
/// submission.
enum SubmissionLoad {
    /// Longest wait for any answer before the run is given up.
    static let stallSecondsMax: Double = 30

    /// What the nodes answered, in transactions: accepted into a mempool or refused (for
    /// example 503 when a mempool is full).
    struct Outcome {
        let accepted: Int
        let refused: Int
    }

    /// Sends `requests` over `connections` connections: connection `c` goes to
    /// `ports[c % ports.count]` and sends requests `c`, `c + connections`, … in turn. Nil when
    /// a connection fails, an answer is malformed, or nothing is answered for
    /// `stallSecondsMax`.
    ///
    /// `count`, when given, reads each answer's status and body into the transactions it
    /// accepted and refused (a batch answers for many); otherwise a request is one
    /// transaction, accepted when answered 200.
    static func run(
        ports: [Int], requests: [[UInt8]], connections: Int,
        count: ((_ status: Int, _ body: [UInt8]) -> (accepted: Int, refused: Int)?)? = nil
    ) -> Outcome? {
        precondition(!ports.isEmpty, "at least one port")
        precondition(connections >= 1 && connections <= LoopbackLoad.connectionsMax, "connections out of range")
        var states: [ConnectionState] = []
        var polled: [pollfd] = []
        defer { for state in states { Glibc.close(state.descriptor) } }
        for connection in 0..<connections {
            guard let descriptor = LoopbackLoad.connectNonBlocking(port: ports[connection % ports.count]) else { return nil }
            var state = ConnectionState(descriptor: descriptor)
            state.keepsBody = count != nil
            states.append(state)
            polled.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
        }
        // The index of each connection's request in flight.
        var next = Array(0..<connections)
        var open = connections
        for index in 0..<connections {
            if next[index] < requests.count {
                guard states[index].send(requests[next[index]]) else { return nil }
            } else {
                finish(&polled[index])
                open -= 1
            }
        }
        var accepted = 0
        var refused = 0
        var answered = 0
        var chunk = [UInt8](repeating: 0, count: HTTPConnection.receiveBytesMax)
        var lastAnswerNanoseconds = DispatchTime.now().uptimeNanoseconds
        while open > 0 {
            let ready = poll(&polled, nfds_t(polled.count), 1_000)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if ready == 0 {
                let stalled = Double(DispatchTime.now().uptimeNanoseconds - lastAnswerNanoseconds) / 1e9
                if stalled > stallSecondsMax { return nil }
                continue
            }
            // Each ready connection: read all it has, then take its answer if complete. (poll
            // rewrites every `revents`, so none needs clearing.)
            for index in 0..<connections where polled[index].revents != 0 && states[index].inFlight {
                guard states[index].receiveAvailable(through: &chunk) else { return nil }
                switch states[index].takeResponse() {
                case .incomplete: continue
                case .malformed: return nil
                case .complete(let status):
                    lastAnswerNanoseconds = DispatchTime.now().uptimeNanoseconds
                    answered += 1
                    if let count {
                        guard let counted = count(status, states[index].body) else { return nil }
                        accepted += counted.accepted
                        refused += counted.refused
                    } else if status == 200 {
                        accepted += 1
                    } else {
                        refused += 1
                    }
                    next[index] += connections
                    if next[index] < requests.count {
                        guard states[index].send(requests[next[index]]) else { return nil }
                    } else {
                        finish(&polled[index])
                        open -= 1
                    }
                }
            }
        }
        precondition(answered == requests.count, "every request answered once")
        return Outcome(accepted: accepted, refused: refused)
    }

    /// What a paced run did: when it started (request `i` was due `i × intervalNanoseconds`
    /// later, on the monotonic clock) and what the nodes answered.
    struct PacedOutcome {
        let startNanoseconds: UInt64
        let intervalNanoseconds: UInt64
        let accepted: Int
        let refused: Int

        /// When request `index` was due.
        func dueNanoseconds(_ index: Int) -> UInt64 { startNanoseconds + UInt64(index) * intervalNanoseconds }
    }

    /// Sends `requests` on a fixed schedule, whatever the nodes do: request `i` is due
    /// `i / offeredRatePerSecond` seconds after the start and goes to `ports[i % ports.count]`,
    /// on the first of that port's `connectionsPerPort` connections that is free. A request
    /// whose port has no free connection waits for one, and since its latency is counted from
    /// the time it was due (see `PacedOutcome`), that wait is counted too: a stalled node
    /// cannot hide the requests queued behind it (no coordinated omission, as in wrk2). One
    /// poll loop on the calling thread drives every connection: a thread per connection,
    /// each sleeping until its next request, cost the generator about 60 µs of processor time
    /// per submission at 2,450 a second, a tenth of a core the validators it measures lacked.
    /// Nil when a connection fails, an answer is malformed, or nothing is answered for
    /// `stallSecondsMax`.
    static func runPaced(
        ports: [Int], requests: [[UInt8]], connectionsPerPort: Int, offeredRatePerSecond: Double
    ) -> PacedOutcome? {
        precondition(!ports.isEmpty, "at least one port")
        precondition(
            connectionsPerPort >= 1 && ports.count * connectionsPerPort <= LoopbackLoad.connectionsMax,
            "connections out of range")
        precondition(offeredRatePerSecond >= 1 && offeredRatePerSecond <= 1_000_000, "offered rate out of range")
        let connections = ports.count * connectionsPerPort
        var states: [ConnectionState] = []
        var polled: [pollfd] = []
        defer { for state in states { Glibc.close(state.descriptor) } }
        // Connection `c` serves port `c / connectionsPerPort`.
        for connection in 0..<connections {
            guard let descriptor = LoopbackLoad.connectNonBlocking(port: ports[connection / connectionsPerPort]) else {
                return nil
            }
            states.append(ConnectionState(descriptor: descriptor))
            polled.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
        }
        let intervalNanoseconds = UInt64(1e9 / offeredRatePerSecond)
        let start = DispatchTime.now().uptimeNanoseconds
        func due(_ index: Int) -> UInt64 { start + UInt64(index) * intervalNanoseconds }
        // Each port's next request not yet sent: port `p` sends `p`, `p + ports.count`, … in order.
        var nextForPort = Array(0..<ports.count)
        var accepted = 0
        var refused = 0
        var answered = 0
        var chunk = [UInt8](repeating: 0, count: HTTPConnection.receiveBytesMax)
        var lastProgressNanoseconds = start
        let waitNanosecondsMax: UInt64 = 100_000_000
        while answered < requests.count {
            // Send each port's due requests on its free connections; note the next due time
            // of a port that could send it.
            let now = DispatchTime.now().uptimeNanoseconds
            var waitNanoseconds = waitNanosecondsMax
            for port in ports.indices {
                for connection in (port * connectionsPerPort)..<((port + 1) * connectionsPerPort)
                where !states[connection].inFlight {
                    let index = nextForPort[port]
                    guard index < requests.count else { break }
                    let dueNanoseconds = due(index)
                    guard dueNanoseconds <= now else {
                        waitNanoseconds = min(waitNanoseconds, dueNanoseconds - now)
                        break
                    }
                    guard states[connection].send(requests[index]) else { return nil }
                    nextForPort[port] += ports.count
                }
            }
            let ready = LoopbackLoad.wait(&polled, nanoseconds: waitNanoseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if ready == 0 {
                let idle = Double(DispatchTime.now().uptimeNanoseconds - lastProgressNanoseconds) / 1e9
                // Waiting for the schedule is progress; waiting on busy connections past the
                // bound is a stall.
                if idle > stallSecondsMax && states.contains(where: \.inFlight) { return nil }
                continue
            }
            for connection in 0..<connections where polled[connection].revents != 0 {
                // An idle connection that polls ready was closed or failed: poll would report
                // it again at once, for ever.
                guard states[connection].inFlight else { return nil }
                guard states[connection].receiveAvailable(through: &chunk) else { return nil }
                switch states[connection].takeResponse() {
                case .incomplete: continue
                case .malformed: return nil
                case .complete(let status):
                    lastProgressNanoseconds = DispatchTime.now().uptimeNanoseconds
                    answered += 1
                    if status == 200 { accepted += 1 } else { refused += 1 }
                }
            }
            if !states.contains(where: \.inFlight) { lastProgressNanoseconds = DispatchTime.now().uptimeNanoseconds }
        }
        precondition(nextForPort.allSatisfy { $0 >= requests.count }, "every request sent once")
        return PacedOutcome(
            startNanoseconds: start, intervalNanoseconds: intervalNanoseconds, accepted: accepted, refused: refused)
    }

    /// Stops polling a connection that has sent its last request: poll skips a negative
    /// descriptor, where one with no events asked could still wake it with a hang-up.
    private static func finish(_ entry: inout pollfd) {
        entry.fd = -1
        entry.events = 0
    }
}
