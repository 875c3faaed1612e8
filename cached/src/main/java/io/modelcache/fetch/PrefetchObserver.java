package io.modelcache.fetch;

/**
 * Sees what read-ahead and fill asked upstream for, and how much of it readers later used (the
 * daemon routes these to {@code DaemonMetrics.prefetchIssued/prefetchUsed}). Called from reader and
 * fill threads: implementations must be thread-safe and cheap.
 */
public interface PrefetchObserver {
  PrefetchObserver NONE = new PrefetchObserver() {
    @Override
    public void issued(long bytes) {}

    @Override
    public void used(long bytes) {}
  };

  /** Bytes of chunks newly requested by read-ahead, a profile replay or background fill. */
  void issued(long bytes);

  /** Bytes of prefetched chunks that a reader then read (counted once per chunk). */
  void used(long bytes);
}
