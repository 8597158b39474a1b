#if canImport(Glibc)
    import CMalloc
#endif

/// How a validator process asks the C allocator to hold memory.
enum MemoryAllocator {
    /// Free memory at the top of a heap that glibc keeps rather than returning to the system.
    static let trimThresholdBytes: Int32 = 512 << 20
    /// Allocations at least this large get their own mapping; glibc's largest.
    static let mmapThresholdBytes: Int32 = 32 << 20

    /// Keeps freed memory in the process for reuse.
    ///
    /// Why: each block's execution and store allocate and free megabytes (node lists,
    /// encoded rows, the block itself). With glibc's defaults, a free that left more than
    /// 128 KiB at the top of a heap returned it to the system, and the next block's
    /// allocations took it back page by page, each page faulted in and zeroed by the
    /// kernel. Set once at start, before the node allocates its caches; the thresholds are
    /// process-wide, so they hold for every thread's heap.
    ///
    /// Returns whether the allocator took both settings (always true where there is no glibc
    /// to ask). A false result costs only speed, so the caller reports it and goes on.
    static func keepFreedMemory() -> Bool {
        #if canImport(Glibc)
            // mallopt answers 1 when it took the setting.
            let trimSet = mallopt(M_TRIM_THRESHOLD, trimThresholdBytes) == 1
            let mmapSet = mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes) == 1
            return trimSet && mmapSet
        #else
            return true
        #endif
    }
}
