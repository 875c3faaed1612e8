package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The read path: a {@link BlobHandle} per open file, hits served from memory or disk.
 *
 * <p><b>Why the hit path touches no index and no lock.</b> A cache hit must cost about what a
 * pread costs, or the FUSE layer cannot get near disk speed. So each blob keeps an in-memory
 * presence bitmap (atomics), one open {@link java.nio.channels.FileChannel}, per-chunk pin
 * counters and access stamps. A hit pins its chunks, checks bits, stamps the time, preads, unpins.
 * The LRU order is only reconciled with those stamps when eviction runs ({@link LruPolicy}), and
 * the persisted index (Chronicle Map) is written only when chunks arrive or leave.
 *
 * <p><b>Why warm reads use O_DIRECT once.</b> Chunks just fetched stay in memory ({@link HotChunks})
 * until the reader they were fetched for took them. Warm reads (bytes fetched earlier) come from
 * disk: a whole chunk is read with O_DIRECT once, two chunks ahead for a reader walking the file,
 * because a buffered read would give the cache file its own page-cache pages on top of the
 * mount's; a chunk asked for again goes through the page cache.
 *
 * <p>Threading: handles are used from any thread; the disk read-ahead ({@link DiskLoads}) runs on the cache's executor.
 */
final class ReadPath {
  private final ChunkCache cache;
  private final CacheConfig cfg;
  private final AtomicLong used;
  private final FetchScheduler scheduler;
  private final long timeoutNanos;
  private final HotChunks hot;
  private final DiskLoads disk;
  private final ChunkLoans loans;

  ReadPath(ChunkCache cache) {
    this.cache = cache;
    this.cfg = cache.cfg;
    this.used = cache.used;
    this.scheduler = cache.scheduler;
    this.timeoutNanos = cache.timeoutNanos;
    this.hot = cache.hot;
    this.disk = new DiskLoads(cache);
    this.loans = new ChunkLoans(hot, disk);
  }

  final class Handle implements BlobHandle {
    private final Blob b;
    private final BlobFetcher fetcher;
    private final AtomicBoolean closedFlag = new AtomicBoolean();
    private final AtomicLong prefetchUsed = new AtomicLong();
    private volatile boolean strict;

    Handle(Blob b, BlobFetcher fetcher) {
      this.b = b;
      this.fetcher = fetcher;
    }

    @Override
    public int read(long fileOffset, ByteBuffer dst) throws IOException {
      if (closedFlag.get() || cache.closed) {
        throw new IOException("handle on blob " + b.spec.digest() + " is closed");
      }
      if (fileOffset < 0) {
        throw new IllegalArgumentException("negative offset " + fileOffset);
      }
      if (b.state == BlobState.FAILED) {
        throw Verifier.failure(b);
      }
      long len = b.contentLength();
      int want = dst.remaining();
      if (fileOffset >= len || want == 0) {
        return 0;
      }
      if (strict && b.state != BlobState.COMPLETE && b.digests == null) {
        awaitVerified(b, fetcher);
      }
      long end = Math.min(len, fileOffset + want);
      int first = (int) (fileOffset >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      for (int i = first; i <= last; i++) {
        b.pins.incrementAndGet(i);
      }
      int drops = b.drops.get();
      // Each damaged chunk in range costs at most one more pass (it is fetched again and written by
      // this process); two spare passes cover a chunk damaged again on the way.
      int attempts = last - first + 3;
      try {
        for (int attempt = 1; ; attempt++) {
          cache.ingest.ensureChunks(b, fetcher, first, last);
          if (b.state == BlobState.FAILED) {
            throw Verifier.failure(b);
          }
          int gens = b.gens(first, last); // then presence: a drop after this changes it
          int n = (int) (end - fileOffset);
          int base = dst.position();
          try {
            for (long pos = fileOffset; pos < end; ) {
              int i = (int) (pos >>> b.chunkShift);
              if (!b.isPresentSettled(i)) {
                throw new DamagedChunk(b, i); // pinned, so only dropped (as damaged) since ensureChunks
              }
              long stop = Math.min(end, b.chunkStart(i) + b.chunkLen(i));
              copyChunk(b, i, pos, dst.slice(base + (int) (pos - fileOffset), (int) (stop - pos)));
              pos = stop;
            }
          } catch (DamagedChunk e) {
            if (b.state == BlobState.FAILED || b.drops.get() != drops) {
              throw Verifier.failure(b);
            }
            if (attempt < attempts) {
              continue; // dropped: ensureChunks fetches it again
            }
            throw e;
          } catch (IOException e) {
            if (b.state == BlobState.FAILED || b.drops.get() != drops) {
              throw Verifier.failure(b); // verification failed while we read: the file was dropped under us
            }
            throw e;
          }
          if (b.state == BlobState.FAILED || b.drops.get() != drops) {
            throw Verifier.failure(b); // never hand out bytes of a blob that failed verification meanwhile
          }
          if (b.gens(first, last) != gens) {
            if (attempt < attempts) {
              continue; // a chunk in range was found damaged meanwhile: we may have copied it
            }
            throw new IOException("blob " + b.spec.digest() + ": chunks keep being found damaged in " + b.file);
          }
          notePrefetchUse(first, last);
          dst.position(base + n);
          return n;
        }
      } finally {
        unpin(first, last);
      }
    }

    @Override
    public HeldBytes lend(long fileOffset, int want) throws IOException {
      if (closedFlag.get() || cache.closed || fileOffset < 0 || want <= 0 || b.state == BlobState.FAILED
          || fileOffset >= b.contentLength() || (strict && b.state != BlobState.COMPLETE && b.digests == null)) {
        return null; // read() answers these: its errors, its end of file, its wait for verification
      }
      long end = Math.min(b.contentLength(), fileOffset + want);
      int first = (int) (fileOffset >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      for (int i = first; i <= last; i++) {
        b.pins.incrementAndGet(i);
      }
      int drops = b.drops.get();
      boolean loanUnpins = false;
      try {
        for (int i = first; i <= last; i++) {
          if (!b.isPresent(i)) {
            return null; // a lend never waits for a fetch: read() does, and counts the miss
          }
        }
        // Take the memory first: a range not in memory goes to read(), which then counts its hits
        // and prefetch use once, not here as well.
        HeldBytes held = loans.hold(b, fileOffset, end, drops, () -> unpin(first, last));
        if (held == null) {
          return null;
        }
        loanUnpins = true;
        try {
          cache.ingest.ensureChunks(b, fetcher, first, last); // all present and pinned: counts the hits
        } catch (IOException | RuntimeException e) {
          held.close();
          throw e;
        }
        notePrefetchUse(first, last);
        cache.lentBytes.add(held.length());
        return held;
      } finally {
        if (!loanUnpins) {
          unpin(first, last);
        }
      }
    }

    @Override
    public void servedInPlace(long fileOffset, int len) {
      long end = Math.min(b.contentLength(), fileOffset + len);
      if (fileOffset < 0 || len <= 0 || fileOffset >= end) {
        return;
      }
      int first = (int) (fileOffset >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      cache.ingest.servedInPlace(b, first, last);
      notePrefetchUse(first, last);
    }

    private void notePrefetchUse(int first, int last) {
      if (b.prefetchedCount.get() > 0) {
        for (int i = first; i <= last; i++) {
          if (b.clearPrefetched(i)) {
            prefetchUsed.addAndGet(b.chunkLen(i));
          }
        }
      }
    }

    private void unpin(int first, int last) {
      for (int i = first; i <= last; i++) {
        b.pins.decrementAndGet(i);
      }
      if (used.get() > cfg.budgetBytes()) {
        cache.eviction.maybeEvict();
      }
    }

    @Override
    public void prefetch(long fileOffset, long length) {
      if (!scheduler.wouldStart(FetchPriority.READ_AHEAD)) {
        return; // the old contract: only when a slot is free right now
      }
      prefetch(fileOffset, length, FetchPriority.READ_AHEAD);
    }

    @Override
    public Prefetch prefetch(long fileOffset, long length, FetchPriority priority) {
      if (closedFlag.get() || cache.closed || b.state == BlobState.FAILED || length <= 0 || fileOffset >= b.contentLength()) {
        return Prefetch.NONE;
      }
      long end = Math.min(b.contentLength(), fileOffset + length);
      int first = (int) (Math.max(0, fileOffset) >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      List<Pending> mine = new ArrayList<>();
      long bytes = 0;
      for (int i = first; i <= last; i++) {
        if (!b.isPresent(i)) {
          int before = mine.size();
          Ingest.claimWithGranule(b, i, mine);
          for (int k = before; k < mine.size(); k++) {
            bytes += b.chunkLen(mine.get(k).chunk);
          }
        }
      }
      if (mine.isEmpty()) {
        return Prefetch.NONE;
      }
      CompletableFuture<?>[] fs = new CompletableFuture<?>[mine.size()];
      for (int i = 0; i < fs.length; i++) {
        fs[i] = mine.get(i).future;
      }
      cache.ingest.startFetches(b, fetcher, mine, priority);
      return new Prefetch(bytes, CompletableFuture.allOf(fs));
    }

    @Override
    public boolean isCached(long fileOffset, long length) {
      long end = Math.min(b.contentLength(), fileOffset + length);
      if (length <= 0 || fileOffset >= end) {
        return true;
      }
      int first = (int) (Math.max(0, fileOffset) >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      for (int i = first; i <= last; i++) {
        if (!b.isPresent(i)) {
          return false;
        }
      }
      return true;
    }

    @Override
    public int chunkSize() {
      return b.chunkSize;
    }

    @Override
    public long takePrefetchUsed() {
      return prefetchUsed.get() == 0 ? 0 : prefetchUsed.getAndSet(0);
    }

    @Override
    public double cachedFraction() {
      long len = b.contentLength();
      return len == 0 ? 1.0 : (double) b.cachedBytes.get() / len;
    }

    @Override
    public long cachedBytes() {
      return b.cachedBytes.get();
    }

    @Override
    public BlobSpec spec() {
      return b.spec;
    }

    @Override
    public boolean isComplete() {
      return b.state == BlobState.COMPLETE;
    }

    @Override
    public java.util.Optional<PinnedFile> pinFile() {
      if (closedFlag.get() || cache.closed) {
        return java.util.Optional.empty();
      }
      return java.util.Optional.ofNullable(cache.eviction.pinFile(b));
    }

    @Override
    public void readBackInBackground() {
      if (!closedFlag.get() && !cache.closed && b.state == BlobState.COMPLETE) {
        cache.atRest.checkInBackground(b, false);
      }
    }

    @Override
    public java.util.Optional<PinnedFile> pinFileInUse() {
      if (closedFlag.get() || cache.closed) {
        return java.util.Optional.empty();
      }
      return java.util.Optional.ofNullable(cache.eviction.pinFileInUse(b, fetcher));
    }

    @Override
    public void verifyWith(ChunkDigests digests) {
      if (digests.length() != b.contentLength()) {
        throw new IllegalArgumentException("chunk digests of a " + digests.length() + "-byte file do not fit blob "
            + b.spec.digest() + " (" + b.contentLength() + " bytes)");
      }
      synchronized (b) {
        if (b.digests != null || b.indexRejected) {
          return;
        }
        b.digests = digests;
      }
      if (b.presentCount.get() == 0) {
        b.dropHash(); // every chunk will be checked on arrival; see Verifier for why no whole hash
      }
    }

    @Override
    public boolean chunkVerified() {
      return b.digests != null;
    }

    @Override
    public void serveOnlyVerified(boolean v) {
      strict = v;
    }

    @Override
    public void close() {
      if (!closedFlag.compareAndSet(false, true)) {
        return;
      }
      b.lastAccess = Math.max(b.lastAccess, cfg.clock().getAsLong());
      cache.handleClosed(b);
      b.release();
    }
  }

  /**
   * Strict mode: returns once the whole blob is present and verified (or a chunk index now covers it),
   * fetching what is missing at read-ahead priority and verifying on this thread when nobody else is.
   * A failed verification drops the blob and it is fetched again (see {@link Verifier}), so this loops
   * until the blob verifies or is FAILED, each pass bounded by the fetch timeout.
   */
  private void awaitVerified(Blob b, BlobFetcher fetcher) throws IOException {
    if (b.spec.contentLength() > cfg.budgetBytes()) {
      throw new io.modelcache.error.ModelCacheException(io.modelcache.error.ModelCacheException.Kind.IO,
          "blob " + b.spec.digest() + " (" + b.spec.contentLength() + " bytes) is larger than the cache budget ("
              + cfg.budgetBytes() + " bytes): verify.unindexed: strict needs it whole in the cache");
    }
    for (int i = 0; i < b.nChunks; i++) {
      b.pins.incrementAndGet(i);
    }
    try {
      while (b.state != BlobState.COMPLETE && b.digests == null) {
        if (b.state == BlobState.FAILED) {
          throw Verifier.failure(b);
        }
        if (cache.closed) {
          throw new IOException("chunk cache is closed");
        }
        int drops = b.drops.get();
        if (b.nChunks > 0) {
          cache.ingest.ensureChunks(b, fetcher, 0, b.nChunks - 1, FetchPriority.READ_AHEAD);
        }
        if (b.state != BlobState.PARTIAL || b.drops.get() != drops || !b.allPresent()) {
          continue;
        }
        if (b.spec.encoding() == Encoding.RAW && b.verifying.compareAndSet(false, true)) {
          try {
            cache.verifier.verifyRaw(b, fetcher, true);
          } finally {
            b.verifying.set(false);
          }
        } else {
          waitForVerification(b, drops); // another thread hashes it, or the compressed stream ends
        }
      }
    } finally {
      for (int i = 0; i < b.nChunks; i++) {
        b.pins.decrementAndGet(i);
      }
    }
  }

  /** Waits (bounded by the fetch timeout) while a verification someone else runs is under way. */
  private void waitForVerification(Blob b, int drops) throws IOException {
    long deadline = System.nanoTime() + timeoutNanos;
    while (b.state == BlobState.PARTIAL && b.drops.get() == drops && b.allPresent()) {
      if (System.nanoTime() > deadline) {
        throw new io.modelcache.error.ModelCacheException(io.modelcache.error.ModelCacheException.Kind.UNREACHABLE,
            "timed out waiting for blob " + b.spec.digest() + " to be verified");
      }
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for blob " + b.spec.digest());
      }
    }
  }

  /** Copies part of one present, pinned chunk: from memory if it just arrived, else from the file. */
  private void copyChunk(Blob b, int i, long pos, ByteBuffer view) throws IOException {
    ChunkRef ref = new ChunkRef(b, i);
    HotChunks.Entry e = hot.acquire(ref);
    if (e == null && !b.wasDiskLoaded(i)) {
      e = disk.load(b, i, ref);
    }
    if (e == null && !b.isChecked(i)) {
      disk.checkInPlace(b, i); // not loaded (no room in memory): the page cache read below must not be the first
    }
    if (e != null) {
      disk.aheadFrom(b, i, e);
      int n = view.remaining();
      try {
        view.put(e.buf.slice((int) (pos - b.chunkStart(i)), n));
      } finally {
        hot.release(ref, e, n);
      }
      return;
    }
    FileChannel ch = b.channel();
    while (view.hasRemaining()) {
      int r = ch.read(view, pos + view.position());
      if (r < 0) {
        if (b.state == BlobState.FAILED) {
          throw Verifier.failure(b); // verification failed while we read: the file was dropped under us
        }
        throw new IOException("cache file " + b.file + " is shorter than its cached chunks");
      }
    }
  }
}
