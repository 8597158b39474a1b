import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP/1.1 load generator for loopback: `connections` keep-alive connections, each with
/// at most one GET in flight, all driven by `threads` poll loops (one or two), so the
/// generator costs a thread per core at most rather than a thread per connection and leaves
/// the CPU to the server it measures. Closed loop (each connection asks again as soon as it
/// is answered: the saturated rate) or paced (`offeredRatePerSecond`: a fixed schedule).
///
/// A request's latency ends just after the last byte of its response is parsed, on the
/// generator's monotonic clock, and starts just before its bytes are written (closed loop)
/// or at its scheduled time (paced). It includes any time the response waited for the
/// generator's loop, so a busy generator inflates it rather than hiding it. Every request
/// sent before the time is up is completed and sampled.
struct LoopbackLoad {
    /// Most connections one generator drives (poll scans them all on every wakeup).
    static let connectionsMax = 1_024
    /// Largest response accepted, in bytes.
    static let responseBytesMax = 1 << 20
    /// Most samples kept per connection (bounds memory for long runs).
    static let samplesPerConnectionMax = 500_000

    /// What a run measured.
    struct Measurement {
        /// Completed requests per second.
        let rate: Double
        /// Median latency, milliseconds.
        let p50Milliseconds: Double
        /// 99th percentile latency, milliseconds.
        let p99Milliseconds: Double
        /// Completed requests.
        let requests: Int
        /// CPU time the process spent per request outside the generator's threads (the server),
        /// microseconds: unlike the rate, it hardly depends on what else the machine runs.
        let serverCPUMicroseconds: Double
        /// CPU time the generator's threads spent per request, microseconds.
        let generatorCPUMicroseconds: Double
        /// Every request's start (its scheduled time when paced, else its send time) and
        /// latency, in start order: for looking at latency over the run.
        let samples: [LatencySample]
    }

    /// One completed request, on the generator's monotonic clock (`DispatchTime`).
    struct LatencySample: Comparable {
        let startNanoseconds: UInt64
        let latencyNanoseconds: UInt64

        static func < (left: LatencySample, right: LatencySample) -> Bool {
            (left.startNanoseconds, left.latencyNanoseconds) < (right.startNanoseconds, right.latencyNanoseconds)
        }
    }

    let port: Int
    let connections: Int
    let threads: Int
    let seconds: Double
    /// Nil: the closed loop, each connection sending its next request as soon as the last is
    /// answered (the saturated rate). A rate: the same connections share that many requests
    /// per second on a fixed schedule (connection `i` sends every `connections / rate`
    /// seconds, staggered by `i / rate`), and each latency runs from the request's scheduled
    /// time, not from when it was sent: a stalled server delays the requests queued behind
    /// it, and that wait is counted (no coordinated omission, as in wrk2).
    var offeredRatePerSecond: Double? = nil

    /// Sends GETs with `accept` in a closed loop for `seconds`, connection `i` always asking
    /// for `paths[i % paths.count]`; nil when a connection fails or a response is not 200.
    func run(paths: [String], accept: String) -> Measurement? {
        precondition(connections >= 1 && connections <= Self.connectionsMax, "connections out of range")
        precondition(threads >= 1 && threads <= connections, "threads out of range")
        precondition(!paths.isEmpty, "at least one path")
        let requests = paths.map { Array("GET \($0) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \(accept)\r\n\r\n".utf8) }
        let collector = SampleCollector()
        let group = DispatchGroup()
        let processCPUBefore = Self.cpuMicroseconds(Self.processUsage)
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(seconds * 1e9)
        // Paced: the first request of connection i is due i / rate seconds after the start.
        let intervalNanoseconds = offeredRatePerSecond.map { rate -> UInt64 in
            precondition(rate > 0 && rate <= 1e6, "offered rate out of range")
            return UInt64(Double(connections) / rate * 1e9)
        }
        for thread in 0..<threads {
            // Connections spread evenly: thread t drives connections t, t + threads, ….
            let indices = Array(stride(from: thread, to: connections, by: threads))
            let mine = indices.map { requests[$0 % requests.count] }
            let schedule = intervalNanoseconds.map { interval in
                Schedule(
                    intervalNanoseconds: interval,
                    firstDueNanoseconds: indices.map { start + interval * UInt64($0) / UInt64(connections) })
            }
            group.enter()
            let worker = Thread {
                defer { group.leave() }
                let cpuBefore = Self.cpuMicroseconds(Self.threadUsage)
                let samples = Self.drive(port: port, requests: mine, schedule: schedule, deadline: deadline)
                collector.add(samples, cpuMicroseconds: Self.cpuMicroseconds(Self.threadUsage) - cpuBefore)
            }
            worker.stackSize = 1 << 20
            worker.start()
        }
        group.wait()
        let elapsedSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let processCPU = Self.cpuMicroseconds(Self.processUsage) - processCPUBefore
        guard !collector.failed else { return nil }
        let samples = collector.samples.sorted()
        let sorted = samples.map(\.latencyNanoseconds).sorted()
        guard !sorted.isEmpty else { return nil }
        let generatorCPU = collector.cpuMicroseconds
        return Measurement(
            rate: Double(sorted.count) / elapsedSeconds, p50Milliseconds: Self.percentileMilliseconds(sorted, 0.50),
            p99Milliseconds: Self.percentileMilliseconds(sorted, 0.99), requests: sorted.count,
            serverCPUMicroseconds: (processCPU - generatorCPU) / Double(sorted.count),
            generatorCPUMicroseconds: generatorCPU / Double(sorted.count), samples: samples)
    }

    /// The `fraction` percentile of ascending latencies in nanoseconds, in milliseconds.
    static func percentileMilliseconds(_ ascendingNanoseconds: [UInt64], _ fraction: Double) -> Double {
        precondition(!ascendingNanoseconds.isEmpty, "a percentile of no samples")
        let index = min(ascendingNanoseconds.count - 1, Int(Double(ascendingNanoseconds.count) * fraction))
        return Double(ascendingNanoseconds[index]) / 1e6
    }

    /// `RUSAGE_SELF`: the whole process.
    static let processUsage: Int32 = 0
    /// `RUSAGE_THREAD` (Linux): the calling thread. Glibc's module hides the name behind _GNU_SOURCE.
    static let threadUsage: Int32 = 1

    /// User plus system CPU time of the process or the calling thread, microseconds.
    static func cpuMicroseconds(_ who: Int32) -> Double {
        var usage = rusage()
        precondition(getrusage(__rusage_who_t(who), &usage) == 0, "getrusage failed")
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    /// When each connection of one poll loop sends, in paced mode.
    struct Schedule {
        /// Time between one connection's requests.
        let intervalNanoseconds: UInt64
        /// When each connection's first request is due, on the monotonic clock.
        let firstDueNanoseconds: [UInt64]
    }

    /// `ppoll(2)`, for waits shorter than poll's millisecond: Glibc's Swift module hides it
    /// behind _GNU_SOURCE, so it is looked up in the C library at run time.
    typealias PPollFunction =
        @convention(c) (
            UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafeRawPointer?
        ) -> Int32
    static let ppollFunction: PPollFunction? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "ppoll").map {
        unsafeBitCast($0, to: PPollFunction.self)
    }

    /// Waits up to `nanoseconds` for `descriptors`: ppoll when the C library has it (it
    /// does on Linux), else poll rounded up to a millisecond.
    static func wait(_ descriptors: inout [pollfd], nanoseconds: UInt64) -> Int32 {
        if let ppoll = ppollFunction {
            var timeout = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
            return ppoll(&descriptors, nfds_t(descriptors.count), &timeout, nil)
        }
        return poll(&descriptors, nfds_t(descriptors.count), Int32((nanoseconds + 999_999) / 1_000_000))
    }

    /// One poll loop over a fresh connection per request in `requests`, each sending its
    /// request again and again until `deadline`: back to back, or on `schedule` when there
    /// is one. Each request's start and latency, or nil on any failure.
    static func drive(port: Int, requests: [[UInt8]], schedule: Schedule?, deadline: UInt64) -> [LatencySample]? {
        let connections = requests.count
        var states: [ConnectionState] = []
        defer { for state in states { Glibc.close(state.descriptor) } }
        var polled: [pollfd] = []
        for _ in 0..<connections {
            guard let descriptor = connectNonBlocking(port: port) else { return nil }
            states.append(ConnectionState(descriptor: descriptor))
            polled.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
        }
        var samples: [LatencySample] = []
        samples.reserveCapacity(connections * 8_192)
        // Closed loop: every request is due now. Paced: each is due on its schedule.
        var due = schedule?.firstDueNanoseconds ?? Array(repeating: 0, count: connections)
        precondition(due.count == connections, "one first due time per connection")
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var open = connections
        let waitNanosecondsMax: UInt64 = 100_000_000
        while open > 0 {
            // Send every request that is due; note how long until the next one is.
            var now = DispatchTime.now().uptimeNanoseconds
            var waitNanoseconds = waitNanosecondsMax
            for index in 0..<connections where !states[index].inFlight && polled[index].events != 0 {
                if due[index] <= now {
                    guard states[index].send(requests[index]) else { return nil }
                    // Paced latency counts from the scheduled time.
                    if schedule != nil { states[index].sentNanoseconds = due[index] }
                } else {
                    waitNanoseconds = min(waitNanoseconds, due[index] - now)
                }
            }
            let ready = wait(&polled, nanoseconds: waitNanoseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            for index in 0..<connections where polled[index].revents != 0 {
                polled[index].revents = 0
                guard states[index].inFlight else { continue }
                // Read everything available; then take the response if it is complete.
                guard states[index].receiveAvailable(through: &chunk) else { return nil }
                switch states[index].takeResponse() {
                case .incomplete: continue
                case .malformed: return nil
                case .complete(let status):
                    guard status == 200 else { return nil }
                    now = DispatchTime.now().uptimeNanoseconds
                    samples.append(
                        LatencySample(
                            startNanoseconds: states[index].sentNanoseconds,
                            latencyNanoseconds: now - states[index].sentNanoseconds))
                    states[index].completed += 1
                    due[index] = schedule.map { due[index] + $0.intervalNanoseconds } ?? now
                    if due[index] >= deadline || states[index].completed >= samplesPerConnectionMax {
                        open -= 1
                        // Done: stop watching it, and send it nothing more.
                        polled[index].events = 0
                    }
                }
            }
            if DispatchTime.now().uptimeNanoseconds >= deadline + 1_000_000_000 { break }
        }
        return samples
    }

    static func connectNonBlocking(port: Int) -> Int32? {
        guard let descriptor = connectLoopback(port: port) else { return nil }
        guard fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) == 0 else {
            Glibc.close(descriptor)
            return nil
        }
        return descriptor
    }
}

/// A blocking TCP connection to 127.0.0.1:`port` with Nagle's delay off (every benchmark
/// request is small and waits for its answer), or nil when it cannot be made.
func connectLoopback(port: Int) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    var noDelay: Int32 = 1
    guard connected == 0,
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size)) == 0
    else {
        Glibc.close(descriptor)
        return nil
    }
    return descriptor
}

/// One connection of the generator: its socket, the bytes received and the request in flight.
struct ConnectionState {
    let descriptor: Int32
    var buffer: [UInt8] = []
    var sentNanoseconds: UInt64 = 0
    var inFlight = false
    var completed = 0
    /// Whether `takeResponse` keeps each response's body in `body` (a copy per response,
    /// which only a load that reads answers pays for).
    var keepsBody = false
    /// The last complete response's body, when `keepsBody`.
    var body: [UInt8] = []

    init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(8_192)
    }

    enum Parsed {
        case incomplete
        case malformed
        case complete(status: Int)
    }

    /// Reads everything the socket holds now into `buffer`, `chunk` at a time; false when the
    /// connection closed or failed, or the bytes would pass `LoopbackLoad.responseBytesMax`.
    mutating func receiveAvailable(through chunk: inout [UInt8]) -> Bool {
        let descriptor = self.descriptor
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                guard buffer.count + count <= LoopbackLoad.responseBytesMax else { return false }
                buffer.append(contentsOf: chunk[..<count])
                continue
            }
            if count == 0 { return false }
            if errno == EAGAIN || errno == EWOULDBLOCK { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    /// Writes the whole request (a few dozen bytes: the socket buffer always takes it).
    mutating func send(_ request: [UInt8]) -> Bool {
        precondition(!inFlight, "one request in flight per connection")
        sentNanoseconds = DispatchTime.now().uptimeNanoseconds
        let count = request.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count == request.count else { return false }
        inFlight = true
        return true
    }

    /// Takes one complete response off the buffer: its status once the head and the
    /// `Content-Length` body have arrived.
    mutating func takeResponse() -> Parsed {
        guard let headEnd = Self.headEnd(buffer) else { return .incomplete }
        // "HTTP/1.1 200 …": the status is bytes 9–11.
        guard headEnd >= 12 else { return .malformed }
        var status = 0
        for offset in 9..<12 {
            let digit = Int(buffer[offset]) - 48
            guard digit >= 0 && digit <= 9 else { return .malformed }
            status = status * 10 + digit
        }
        guard let length = Self.contentLength(buffer, headEnd: headEnd) else { return .malformed }
        let total = headEnd + 4 + length
        guard buffer.count >= total else { return .incomplete }
        precondition(buffer.count == total, "a closed-loop connection receives one response at a time")
        if keepsBody { body = Array(buffer[(headEnd + 4)..<total]) }
        buffer.removeAll(keepingCapacity: true)
        inFlight = false
        return .complete(status: status)
    }

    /// The offset of the blank line ending the head.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    static let contentLengthName = Array("content-length:".utf8)

    /// The `Content-Length` value (case-insensitive name); nil when absent or malformed.
    static func contentLength(_ bytes: [UInt8], headEnd: Int) -> Int? {
        var lineStart = 0
        while lineStart < headEnd {
            var lineEnd = lineStart
            while lineEnd < headEnd && bytes[lineEnd] != 13 { lineEnd += 1 }
            if lineEnd - lineStart > contentLengthName.count {
                var matches = true
                for offset in 0..<contentLengthName.count where bytes[lineStart + offset] | 0x20 != contentLengthName[offset] {
                    matches = false
                    break
                }
                if matches {
                    var value = 0
                    var digits = 0
                    for index in (lineStart + contentLengthName.count)..<lineEnd where bytes[index] != 32 {
                        let digit = Int(bytes[index]) - 48
                        guard digit >= 0 && digit <= 9, digits < 9 else { return nil }
                        value = value * 10 + digit
                        digits += 1
                    }
                    return digits > 0 ? value : nil
                }
            }
            lineStart = lineEnd + 2
        }
        return nil
    }
}

/// Latency samples from the generator's threads; a failed thread marks the run failed.
final class SampleCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [LoopbackLoad.LatencySample] = []
    private var anyFailed = false
    private var cpu = 0.0

    func add(_ more: [LoopbackLoad.LatencySample]?, cpuMicroseconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        if let more { collected += more } else { anyFailed = true }
        cpu += cpuMicroseconds
    }

    /// The generator threads' CPU time, microseconds.
    var cpuMicroseconds: Double {
        lock.lock()
        defer { lock.unlock() }
        return cpu
    }

    var samples: [LoopbackLoad.LatencySample] {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    var failed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return anyFailed
    }
}
