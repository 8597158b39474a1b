import Foundation

/// A node's committed height, published so readers can learn it without waiting for the
/// node's actor (the HTTP resolver checks its response cache against it on every request).
///
/// The node publishes a height only once the block at that height is committed and its state
/// is what queries read, and before it tells any waiter about that block's transactions: a
/// reader that sees height `h` may rely on an answer computed at `h`, and a client that saw
/// its transaction committed will never be served an answer from before that block.
public final class CommittedHeightWatch: @unchecked Sendable {
    // A lock rather than an atomic: `Synchronization.Atomic` needs macOS 15 and the package
    // supports macOS 14. Uncontended, it costs tens of nanoseconds.
    private let lock = NSLock()
    private var height: UInt64

    /// Starts at `height` (the store's committed height when the node opens).
    public init(height: UInt64) {
        self.height = height
    }

    /// The latest published committed height.
    public var value: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return height
    }

    /// Publishes a newly committed height; heights never go back.
    public func publish(_ newHeight: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        precondition(newHeight >= height, "the committed height went back from \(height) to \(newHeight)")
        height = newHeight
    }
}
