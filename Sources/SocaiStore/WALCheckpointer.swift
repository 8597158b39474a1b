import CSQLite
import Dispatch
import Synchronization

/// Copies a store's write-ahead log back into its database file on a thread of its own,
/// instead of inside a block's commit.
///
/// SQLite's automatic checkpoint runs in the commit that takes the log past its threshold:
/// under load one block in five or so then took 150–250 ms longer to store (copying up to
/// 64 MiB of pages and syncing the file), and that block's height, and every transaction
/// waiting for it, waited too. Here the commit only asks for a checkpoint, which a second
/// connection runs in PASSIVE mode: it copies what is committed without blocking the writer
/// or readers, and SQLite restarts the log at the next write once all of it is copied. A
/// checkpoint is crash-safe whoever runs it; it never changes what the store holds.
///
/// Bounded: at most one checkpoint runs or waits at a time, and should the log still grow
/// past `inlineFramesMin` (a checkpointer that cannot keep up), the committing connection
/// checkpoints itself, as SQLite's own would.
final class WALCheckpointer: Sendable {
    /// Log frames (4 KiB pages) after which a commit asks for a background checkpoint: 64 MiB,
    /// as SQLite's own threshold was set before. Successive blocks dirty many of the same
    /// pages, and a checkpoint copies each page once however often it was rewritten since
    /// the last one; at SQLite's default of 1000 pages, checkpointing was a fifth of a
    /// validator's processor time under load.
    static let backgroundFramesMinDefault: Int32 = 16_384
    /// Log frames after which the committing connection checkpoints inline: 256 MiB.
    static let inlineFramesMinDefault: Int32 = 65_536

    let path: String
    let backgroundFramesMin: Int32
    let inlineFramesMin: Int32
    private let queue = DispatchQueue(label: "socai.store.wal-checkpoint", qos: .utility)
    /// Whether a background checkpoint is queued or running.
    private let scheduled = Atomic<Bool>(false)
    /// Background checkpoints that copied the whole log (for tests and logs).
    private let completed = Atomic<Int>(0)
    /// Background checkpoints that could not open the file, failed, or left part of the log
    /// behind a reader; the next commit past the threshold asks again.
    private let incomplete = Atomic<Int>(0)
    /// The checkpointing connection, opened on first use and used only on `queue`.
    private let connection = Mutex<SQLiteConnection?>(nil)

    init(
        path: String, backgroundFramesMin: Int32 = WALCheckpointer.backgroundFramesMinDefault,
        inlineFramesMin: Int32 = WALCheckpointer.inlineFramesMinDefault
    ) {
        precondition(backgroundFramesMin >= 1 && inlineFramesMin >= backgroundFramesMin)
        self.path = path
        self.backgroundFramesMin = backgroundFramesMin
        self.inlineFramesMin = inlineFramesMin
    }

    /// Background checkpoints that copied the whole log so far.
    var checkpointsCompleted: Int { completed.load(ordering: .acquiring) }
    /// Background checkpoints that did not copy the whole log so far.
    var checkpointsIncomplete: Int { incomplete.load(ordering: .acquiring) }

    /// Called on the writing connection's thread after each commit, with the frames now in
    /// the log.
    func committed(frames: Int32, writer: OpaquePointer) {
        if frames >= inlineFramesMin {
            // SQLITE_BUSY here means the background checkpoint is running; it will do.
            _ = sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            return
        }
        guard frames >= backgroundFramesMin,
            scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        queue.async { [self] in
            let whole = connection.withLock { connection -> Bool in
                do throws(StoreError) {
                    if connection == nil {
                        let opened = try SQLiteConnection(path: path, create: false)
                        // The checkpoint syncs the database file before the log is reused
                        // only at this level; stated, not left to the library's default.
                        try opened.execute("PRAGMA synchronous=FULL")
                        connection = opened
                    }
                    guard let connection else { return false }
                    // One row: busy (1 if it could not run), frames in the log, frames copied.
                    let checkpoint = try connection.prepare("PRAGMA wal_checkpoint(PASSIVE)")
                    try checkpoint.bind([])
                    guard try checkpoint.step() else { return false }
                    let (busy, frames, copied) = (checkpoint.integer(0), checkpoint.integer(1), checkpoint.integer(2))
                    return busy == 0 && copied == frames
                } catch {
                    // Reopened next time; the inline backstop bounds the log meanwhile.
                    connection = nil
                    return false
                }
            }
            if whole {
                completed.add(1, ordering: .releasing)
            } else {
                incomplete.add(1, ordering: .releasing)
            }
            scheduled.store(false, ordering: .releasing)
        }
    }

    /// Waits until no background checkpoint is queued or running.
    func waitUntilIdle() {
        queue.sync {}
    }
}
