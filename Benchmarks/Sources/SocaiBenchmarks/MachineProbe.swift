import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Watches whether the machine itself runs this process at full speed while a benchmark
/// measures latency. A thread does the same fixed piece of arithmetic (about 0.15 ms here)
/// every `pauseNanoseconds`, at real-time priority when the process may ask for it, and
/// times each piece. Inside this machine a real-time thread preempts every ordinary one, so
/// when the same piece takes many times its usual time the CPU itself was withheld from the
/// guest (a host running other tenants), not taken by the server under test.
///
/// On this shared 2-core machine, with nothing else running, the piece took 10–20 times its
/// median in episodes of 4–86 ms every 1–3 s, while the guest's own accounting showed no
/// steal time. A paced latency run that crosses such an episode measures the host: its p99
/// is reported beside the p99 of the slices of the run that no episode touched.
final class MachineProbe: @unchecked Sendable {
    /// Iterations of the fixed piece of work: a chain of dependent xor-shift-multiply steps,
    /// with no memory traffic and no branch the data could change, that the optimizer cannot
    /// fold into fewer steps.
    static let workIterations = 60_000
    /// Pause between pieces, so the probe costs a few percent of one core.
    static let pauseNanoseconds = 2_000_000
    /// Most timings kept (about 7 minutes at one piece per ~2.15 ms).
    static let samplesMax = 200_000
    /// A piece taking this many times the median marks a slowdown.
    static let slowdownFactor: UInt64 = 5
    /// Slow pieces closer than this join one episode.
    static let episodeJoinNanoseconds: UInt64 = 50_000_000

    /// One timed piece of work.
    struct Sample {
        let startNanoseconds: UInt64
        let workNanoseconds: UInt64
    }

    /// What the probe saw over its run.
    struct Report {
        /// Whether the probe ran at real-time priority (without it, the server's own threads
        /// could delay it too, and a slowdown would no longer prove the host).
        let realTimePriority: Bool
        /// Median time of one piece, nanoseconds.
        let medianWorkNanoseconds: UInt64
        /// Spans (start, end) in which pieces took `slowdownFactor` times the median or more.
        let episodes: [(startNanoseconds: UInt64, endNanoseconds: UInt64)]
        /// The probe's first and last timing.
        let firstNanoseconds: UInt64
        let lastNanoseconds: UInt64

        /// Whether an episode overlaps `start..<end`.
        func overlaps(startNanoseconds start: UInt64, endNanoseconds end: UInt64) -> Bool {
            episodes.contains { $0.startNanoseconds < end && $0.endNanoseconds > start }
        }

        /// Total time inside episodes, nanoseconds.
        var episodeNanoseconds: UInt64 {
            episodes.reduce(0) { $0 + ($1.endNanoseconds - $1.startNanoseconds) }
        }
    }

    private let lock = NSLock()
    private var samples: [Sample] = []
    private var stopping = false
    private var realTime = false
    private let finished = DispatchSemaphore(value: 0)
    /// Where each piece's result goes, so the optimizer cannot drop the arithmetic.
    private let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)

    /// Starts the probe thread.
    private init() {
        samples.reserveCapacity(Self.samplesMax)
        sink.initialize(to: 1)
        let thread = Thread { [self] in run() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit { sink.deallocate() }

    /// Runs `body` with a probe beside it; what `body` returned and what the probe saw.
    static func watching<Result>(_ body: () -> Result) -> (Result, Report) {
        let probe = MachineProbe()
        let result = body()
        return (result, probe.stop())
    }

    /// Stops the probe and summarizes its timings.
    private func stop() -> Report {
        lock.lock()
        stopping = true
        lock.unlock()
        finished.wait()
        lock.lock()
        defer { lock.unlock() }
        return Self.report(samples, realTimePriority: realTime)
    }

    /// The summary of `samples`: the median piece, and episodes of slow pieces.
    static func report(_ samples: [Sample], realTimePriority: Bool) -> Report {
        guard !samples.isEmpty else {
            return Report(
                realTimePriority: realTimePriority, medianWorkNanoseconds: 0, episodes: [], firstNanoseconds: 0,
                lastNanoseconds: 0)
        }
        let durations = samples.map(\.workNanoseconds).sorted()
        let median = durations[durations.count / 2]
        var episodes: [(startNanoseconds: UInt64, endNanoseconds: UInt64)] = []
        for sample in samples where sample.workNanoseconds >= median * slowdownFactor {
            let end = sample.startNanoseconds + sample.workNanoseconds
            if let last = episodes.last, sample.startNanoseconds <= last.endNanoseconds + episodeJoinNanoseconds {
                episodes[episodes.count - 1].endNanoseconds = max(last.endNanoseconds, end)
            } else {
                episodes.append((sample.startNanoseconds, end))
            }
        }
        return Report(
            realTimePriority: realTimePriority, medianWorkNanoseconds: median, episodes: episodes,
            firstNanoseconds: samples[0].startNanoseconds,
            lastNanoseconds: samples[samples.count - 1].startNanoseconds + samples[samples.count - 1].workNanoseconds)
    }

    private func run() {
        defer { finished.signal() }
        // Real-time priority needs CAP_SYS_NICE; without it the probe still runs and says so.
        var parameters = sched_param()
        parameters.sched_priority = 10
        let promoted = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &parameters) == 0
        lock.lock()
        realTime = promoted
        lock.unlock()
        var pause = timespec(tv_sec: 0, tv_nsec: Self.pauseNanoseconds)
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            var value = sink.pointee
            for _ in 0..<Self.workIterations { value = (value ^ (value >> 31)) &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
            sink.pointee = value
            let work = DispatchTime.now().uptimeNanoseconds - start
            lock.lock()
            let done = stopping || samples.count >= Self.samplesMax
            if !done { samples.append(Sample(startNanoseconds: start, workNanoseconds: work)) }
            lock.unlock()
            if done { return }
            nanosleep(&pause, nil)
        }
    }
}
