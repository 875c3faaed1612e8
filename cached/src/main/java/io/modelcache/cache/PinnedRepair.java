package io.modelcache.cache;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Makes whole again the cache file of a blob the kernel reads in passthrough while some chunk of
 * it is missing: one found damaged and dropped, or dropped at start after an unclean stop, under a
 * passthrough handle kept across a restart. The kernel reads that file without asking the daemon,
 * so no read will ever fetch the chunk; this fetches every missing chunk at once, and again after
 * a backoff (from {@link #FIRST_BACKOFF_MS}, doubling to {@link #MAX_BACKOFF_MS}) for as long as a
 * chunk is missing and the file is pinned, since a failed fetch has no reader to retry it.
 *
 * <p>Threading: any thread; the retries run on the cache's executor.
 */
final class PinnedRepair {
  static final long FIRST_BACKOFF_MS = 500;
  static final long MAX_BACKOFF_MS = 30_000;
  private final ChunkCache cache;

  PinnedRepair(ChunkCache cache) {
    this.cache = cache;
  }

  /**
   * Fetches the missing chunks of {@code b} while its file is pinned, through {@code fetcher} or,
   * on a retry, the fetcher of the handle opened on it last (the first may belong to a mount gone
   * since). One repair per blob at a time: a call while one runs or waits to retry does nothing.
   */
  void fetchMissing(Blob b, BlobFetcher fetcher) {
    if (b.repairing.compareAndSet(false, true)) {
      fetchMissing(b, fetcher, FIRST_BACKOFF_MS);
    }
  }

  private boolean needed(Blob b, BlobFetcher fetcher) {
    return fetcher != null && !cache.closed && !b.removed && b.filePins.get() > 0 && b.state != BlobState.FAILED
        && !b.allPresent();
  }

  private void fetchMissing(Blob b, BlobFetcher first, long backoffMs) {
    BlobFetcher latest = b.lastFetcher;
    BlobFetcher fetcher = latest != null ? latest : first;
    if (!needed(b, fetcher)) {
      b.repairing.set(false);
      // A chunk dropped just before the flag cleared found this repair running and left it to it.
      if (needed(b, fetcher) && b.repairing.compareAndSet(false, true)) {
        fetchMissing(b, first, FIRST_BACKOFF_MS);
      }
      return;
    }
    List<Pending> mine = new ArrayList<>();
    for (int i = 0; i < b.nChunks; i++) {
      if (!b.isPresent(i)) {
        Ingest.claimWithGranule(b, i, mine); // null when a fetch has it already: watched below all the same
      }
    }
    CompletableFuture<?>[] fs = new CompletableFuture<?>[mine.size()];
    for (int k = 0; k < fs.length; k++) {
      fs[k] = mine.get(k).future;
    }
    if (!mine.isEmpty()) {
      cache.ingest.startFetches(b, fetcher, mine, FetchPriority.DEMAND);
    }
    CompletableFuture.allOf(fs).whenComplete((v, e) -> {
      if (b.allPresent() || cache.closed || b.filePins.get() == 0) {
        fetchMissing(b, first, backoffMs); // ends the repair (or goes on, for a chunk dropped meanwhile)
        return;
      }
      try {
        CompletableFuture.delayedExecutor(backoffMs, TimeUnit.MILLISECONDS, cache.executor)
            .execute(() -> fetchMissing(b, first, Math.min(MAX_BACKOFF_MS, 2 * backoffMs)));
      } catch (RejectedExecutionException closedPool) {
        b.repairing.set(false); // the cache is closing
      }
    });
  }
}
