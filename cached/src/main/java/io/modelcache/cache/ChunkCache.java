package io.modelcache.cache;

import io.modelcache.error.ModelCacheException;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The node-wide chunk cache: every mount on the node reads model bytes through one of these.
 *
 * <h2>Design</h2>
 *
 * <p><b>Why chunks in file coordinates, one sparse file per blob.</b> Readers ask for file offsets,
 * so chunk {@code i} covers file bytes {@code [i·chunkSize, (i+1)·chunkSize)}: a page-aligned read
 * never straddles chunks needlessly, the same chunk math works for raw, tar and compressed layers,
 * and a fully cached raw blob is byte-for-byte the file (the kernel can page it straight in; tools
 * can inspect it). Sparse files let a 100 GB model occupy only what was read, and eviction returns
 * space by punching holes rather than rewriting anything.
 *
 * <p><b>Why it is cut in parts.</b> This class holds the shared state (blob table, LRU policy,
 * memory tier, counters, executor) and the public API; each concern lives in its own part with its
 * share of this essay: {@link ReadPath} (the lock-free hit path, reads from memory and disk),
 * {@link Ingest} (misses, single flight, ranged fetches), {@link ChunkStore} (storing a chunk),
 * {@link StreamIngest} (compressed layers), {@link Verifier} (whole-blob digests), {@link AtRest}
 * (bytes at rest read back), {@link Eviction} (LRU, pins, holes) and {@link Recovery}
 * (persistence, CRC32C, restart after a crash). The parts
 * copy the shared final state at construction and call each other through this object.
 *
 * <p>Thread-safe. {@link #open(BlobSpec, BlobFetcher)} handles may be used from any thread.
 */
public final class ChunkCache implements Closeable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChunkCache.class);
  static final String CLEAN = "CLEAN";
  private static final AtomicInteger THREADS = new AtomicInteger();

  /** One chunk of one blob, the unit of LRU (identity of the Blob object matters). */
  record ChunkRef(Blob blob, int index) {}

  final CacheConfig cfg;
  final Path blobsDir;
  final Path cleanMarker;
  final CacheIndex index;
  final ConcurrentHashMap<String, Blob> blobs = new ConcurrentHashMap<>();
  final LruPolicy<ChunkRef> policy;
  final Object evictLock = new Object();
  final AtomicLong used = new AtomicLong();
  final FetchScheduler scheduler;
  final Executor executor;
  final ExecutorService ownedExecutor;
  final long timeoutNanos;
  final LongAdder hits = new LongAdder();
  final LongAdder misses = new LongAdder();
  final LongAdder bytesFetched = new LongAdder();
  final LongAdder evictions = new LongAdder();
  final LongAdder evictedBytes = new LongAdder();
  /** Chunk evictions passed over because an open {@link PinnedFile} holds their blob. */
  final LongAdder evictionsSkipped = new LongAdder();
  final LongAdder verifyFailures = new LongAdder();
  /** Chunks that did not match their chunk index digest when they arrived. */
  final LongAdder chunkVerifyFailures = new LongAdder();
  /** Fetches again of chunks that failed their check. */
  final LongAdder chunkRefetches = new LongAdder();
  /** Blobs for which the chunk index proved wrong. */
  final LongAdder indexRejections = new LongAdder();
  /**
   * Cached chunks found damaged at rest (their CRC32C no longer matched when read back: by a read,
   * by the check before passthrough, by {@code cache verify} or after an unclean stop) and dropped.
   */
  final LongAdder corruptChunks = new LongAdder();
  /** Blobs dropped after a failed whole-blob verification and fetched again. */
  final LongAdder blobRefetches = new LongAdder();
  /** Fetches cancelled because the last handle on their blob closed ({@link FetchCancelled}). */
  final LongAdder fetchesCancelled = new LongAdder();
  volatile boolean closed;
  /** Just-fetched chunks until a reader takes them, and the fetch buffers. */
  final HotChunks hot;
  /** Chunks being read from disk into memory (single flight). */
  final ConcurrentHashMap<ChunkRef, CompletableFuture<Void>> loading = new ConcurrentHashMap<>();
  final LongAdder diskLoads = new LongAdder();
  /** System.nanoTime() of the last chunk a reader loaded from disk: background read-backs wait for a quiet disk. */
  volatile long lastDiskLoadNanos = System.nanoTime() - AtRest.QUIET_NANOS;
  /** Bytes lent from memory to a reader that wrote them out itself (no copy into a reply buffer). */
  final LongAdder lentBytes = new LongAdder();
  /** Writes go through O_DIRECT (probed at open: tmpfs and some overlays refuse it). */
  final boolean directIo;
  /** The cache file system's block size: O_DIRECT writes must be multiples of it. */
  final int align;
  /** Last time any fetch received bytes: a fetch still queued for a slot is not "stuck" while others move. */
  volatile long anyProgress = System.nanoTime();

  final ReadPath reads;
  final Ingest ingest;
  final ChunkStore store;
  final CheckedIngest checked;
  final StreamIngest streams;
  final Verifier verifier;
  final AtRest atRest;
  final PinnedRepair pinnedRepair;
  final Eviction eviction;
  /** Nothing is evicted while set (see {@link #open(CacheConfig, boolean)}). */
  volatile boolean evictionHeld;
  final Recovery recovery;

  private ChunkCache(CacheConfig cfg, CacheIndex index, boolean directIo, int align) {
    this.cfg = cfg;
    this.directIo = directIo;
    this.align = align;
    long mem = Math.min(cfg.memoryBytes(), cfg.budgetBytes() / 4);
    this.hot = new HotChunks(cfg.chunkSize(), align, mem, cfg.maxConcurrentFetches() + 2);
    this.blobsDir = cfg.dir().resolve("blobs");
    this.cleanMarker = cfg.dir().resolve(CLEAN);
    this.index = index;
    this.policy = new LruPolicy<>(cfg.clock());
    this.timeoutNanos = cfg.fetchTimeout().toNanos();
    if (cfg.fetchExecutor() != null) {
      this.executor = cfg.fetchExecutor();
      this.ownedExecutor = null;
    } else {
      int n = cfg.maxConcurrentFetches() + 2;
      ThreadPoolExecutor pool = new ThreadPoolExecutor(n, n, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "modelcache-fetch-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
      pool.allowCoreThreadTimeOut(true);
      this.executor = pool;
      this.ownedExecutor = pool;
    }
    this.scheduler = FetchScheduler.forSlots(cfg.maxConcurrentFetches(), executor);
    // The parts copy the shared state above; they reach each other through this object at run time.
    this.reads = new ReadPath(this);
    this.ingest = new Ingest(this);
    this.store = new ChunkStore(this);
    this.checked = new CheckedIngest(this);
    this.streams = new StreamIngest(this);
    this.verifier = new Verifier(this);
    this.atRest = new AtRest(this);
    this.pinnedRepair = new PinnedRepair(this);
    this.eviction = new Eviction(this);
    this.recovery = new Recovery(this);
  }

  /**
   * Opens (or creates) the cache in {@code cfg.dir()}. After an unclean stop (no {@code CLEAN}
   * marker) the index is recovered and every cached chunk is re-checked against its CRC32C.
   */
  public static ChunkCache open(CacheConfig cfg) throws IOException {
    return open(cfg, false);
  }

  /**
   * As {@link #open(CacheConfig)}; with {@code holdEviction}, nothing is evicted until
   * {@link #releaseEviction()} (not even to get back under the budget after the opening): a daemon
   * taking kept mounts over first learns which cache files the kernel reads in passthrough and pins
   * them again, and only then may eviction run.
   */
  public static ChunkCache open(CacheConfig cfg, boolean holdEviction) throws IOException {
    Files.createDirectories(cfg.dir().resolve("blobs"));
    Path indexFile = cfg.dir().resolve("index.dat");
    Path marker = cfg.dir().resolve(CLEAN);
    boolean recover = Files.exists(indexFile) && !Files.exists(marker);
    long entries = Math.min(4_000_000L, 10_000L + cfg.budgetBytes() / cfg.chunkSize());
    CacheIndex index;
    try {
      index = CacheIndex.open(indexFile, entries, recover);
    } catch (IOException | RuntimeException e) {
      throw new ModelCacheException(ModelCacheException.Kind.IO,
          "cannot open cache index " + indexFile + ": " + e.getMessage(), e);
    }
    Files.deleteIfExists(marker);
    int align = BlockSize.of(cfg.dir().resolve("blobs"), CacheConfig.MIN_CHUNK_SIZE);
    boolean direct = cfg.directIo() && Recovery.probeDirectIo(cfg.dir().resolve("blobs"), align);
    ChunkCache cache = new ChunkCache(cfg, index, direct, align);
    cache.evictionHeld = holdEviction;
    try {
      cache.recovery.load(recover);
    } catch (IOException | RuntimeException e) {
      cache.close();
      throw e;
    }
    return cache;
  }

  /**
   * Returns a handle on the blob, creating its cache entry if new. Every handle must be closed.
   *
   * @throws IllegalArgumentException if the key is already cached with a different spec
   */
  public BlobHandle open(BlobSpec spec, BlobFetcher fetcher) throws IOException {
    ensureOpen();
    Blob b;
    try {
      b = blobs.compute(spec.key(), (k, old) -> {
        Blob blob = old;
        if (blob != null && blob.removed) {
          blob = null;
        }
        if (blob != null && !blob.spec.equals(spec)) {
          throw new IllegalArgumentException("cache key " + k + " is already used by " + blob.spec + ", not " + spec);
        }
        if (blob == null) {
          blob = new Blob(spec, cfg.chunkSize(), blobsDir.resolve(k), directIo);
          blob.resetHash();
          blob.lastAccess = cfg.clock().getAsLong();
          recovery.persistBlob(blob);
        }
        blob.addHandle();
        return blob;
      });
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    try {
      b.acquire();
    } catch (IOException e) {
      b.removeHandle();
      throw new ModelCacheException(ModelCacheException.Kind.IO,
          "cannot open cache file " + b.file + ": " + e.getMessage(), e);
    }
    b.lastFetcher = fetcher;
    b.lastAccess = cfg.clock().getAsLong();
    verifier.clearFailure(b); // a remount, or a new daemon's restore, tries a failed blob again
    verifier.maybeVerify(b, fetcher);
    return reads.new Handle(b, fetcher);
  }

  public long usedBytes() {
    return used.get();
  }

  public long budgetBytes() {
    return cfg.budgetBytes();
  }

  public CacheConfig config() {
    return cfg;
  }

  public CacheStats stats() {
    long inflight = 0;
    for (Blob b : blobs.values()) {
      inflight += b.inflight.size();
    }
    return new CacheStats(hits.sum(), misses.sum(), bytesFetched.sum(), evictions.sum(),
        evictedBytes.sum(), verifyFailures.sum(), inflight, evictionsSkipped.sum());
  }

  /** Ends the hold of {@link #open(CacheConfig, boolean)}: eviction runs from now on (and at once if over budget). */
  public void releaseEviction() {
    if (evictionHeld) {
      evictionHeld = false;
      eviction.maybeEvict();
    }
  }

  /** Cached bytes of blobs held by an open {@link PinnedFile} (eviction leaves them alone). */
  public long pinnedBytes() {
    long sum = 0;
    for (Blob b : blobs.values()) {
      if (b.filePins.get() > 0) {
        sum += b.cachedBytes.get();
      }
    }
    return sum;
  }

  /** Open {@link PinnedFile}s over all blobs. */
  public int pinnedFiles() {
    int n = 0;
    for (Blob b : blobs.values()) {
      n += Math.max(0, b.filePins.get());
    }
    return n;
  }

  /** Blobs dropped after a failed whole-blob verification and fetched again (before any is marked FAILED). */
  public long blobRefetches() {
    return blobRefetches.sum();
  }

  /** Cached chunks found damaged on disk and dropped (they are fetched again when read). */
  public long corruptChunks() {
    return corruptChunks.sum();
  }

  /** Bytes served by lending the cache's memory ({@link BlobHandle#lend}) instead of copying them. */
  public long lentBytes() {
    return lentBytes.sum();
  }

  /** Read-ahead and fill fetches cancelled mid-stream or in the queue because their blob's last handle closed. */
  public long cancelledFetches() {
    return fetchesCancelled.sum();
  }

  public ChunkCheckStats chunkChecks() {
    return new ChunkCheckStats(chunkVerifyFailures.sum(), chunkRefetches.sum(), indexRejections.sum());
  }

  public List<CachedBlobInfo> list() {
    List<CachedBlobInfo> out = new ArrayList<>();
    for (Blob b : blobs.values()) {
      out.add(new CachedBlobInfo(b.key, b.spec.digest(), b.spec.encoding(), b.contentLength(),
          b.cachedBytes.get(), b.state, b.latestAccess(), b.handles()));
    }
    out.sort((x, y) -> x.key().compareTo(y.key()));
    return out;
  }

  /**
   * Forgets every chunk of {@code b}: its running hash, its memory-tier copies, its presence bits, its
   * LRU entries and the bytes they used. The cache file is the caller's. Caller holds b.rw write.
   */
  void forgetChunks(Blob b) {
    b.dropHash();
    hot.removeBlob(b);
    for (int i = 0; i < b.nChunks; i++) {
      if (b.clearPresent(i)) {
        b.gen.incrementAndGet(i);
        used.addAndGet(-b.chunkLen(i));
        synchronized (policy) {
          policy.remove(new ChunkRef(b, i));
        }
      }
    }
  }

  /**
   * A handle on {@code b} is gone: when it was the last, fetches still running or queued for it are
   * cancelled (nobody waits for them), the blob's state is written to the index (so a restart finds
   * what it holds) and its fetcher let go. Errors are logged, never thrown.
   */
  void handleClosed(Blob b) {
    if (b.removeHandle() == 0) {
      b.lastFetcher = null;
      fetchesCancelled.add(FetchCancelled.cancelAll(b));
      if (!closed) {
        try {
          recovery.persistBlob(b);
        } catch (RuntimeException e) {
          LOG.warn("cannot persist blob {}: {}", b.key, e.toString());
        }
      }
    }
  }

  /**
   * Drops a blob's data and index entry. Fails if a handle on it is open.
   *
   * @throws ModelCacheException NOT_FOUND if the key is unknown, USAGE if the blob is in use
   */
  public void evict(String key) throws IOException {
    ensureOpen();
    try {
      // Inside compute: an open() of the same key waits until the old entry is fully gone.
      blobs.compute(key, (k, b) -> {
        if (b == null) {
          throw new UncheckedIOException(ModelCacheException.notFound("blob " + key + " is not cached"));
        }
        b.rw.writeLock().lock();
        try {
          int h = b.handles();
          if (h > 0) {
            throw new UncheckedIOException(new ModelCacheException(ModelCacheException.Kind.USAGE,
                "cannot evict blob " + key + ": it is in use by " + h + " open handle(s)"));
          }
          b.removed = true;
          forgetChunks(b);
          Verifier.dropFile(b);
          index.removeBlob(key, b.present.length());
        } finally {
          b.rw.writeLock().unlock();
        }
        return null;
      });
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
  }

  /**
   * Re-checks a blob: a full sha256 when the bytes needed are available (raw layers; tar members
   * while a handle supplies upstream access), otherwise the per-chunk CRC32C. A digest mismatch
   * counts as a failed first verification does (drop, fetch again, FAILED when it repeats); a blob
   * already FAILED is reported so and cleared, so that the next read tries again.
   */
  public VerifyResult verify(String key) throws IOException {
    ensureOpen();
    Blob b = blobs.get(key);
    if (b == null) {
      throw ModelCacheException.notFound("blob " + key + " is not cached");
    }
    if (b.state == BlobState.FAILED) {
      verifier.clearFailure(b);
      return new VerifyResult(key, VerifyResult.Status.FAILED, Verifier.failure(b).getMessage()
          + "; cleared: the next read fetches it again");
    }
    // CRCs first: local damage shows up here and costs a refetch, not a FAILED blob.
    int dropped = atRest.check(b, false);
    String why = dropped == 0 ? "" : "; dropped " + dropped + " corrupt chunk(s)";
    if (!b.allPresent()) {
      return new VerifyResult(key, VerifyResult.Status.INCOMPLETE,
          b.presentCount.get() + " of " + b.nChunks + " chunks cached" + why, dropped);
    }
    BlobSpec s = b.spec;
    boolean needsUpstream = s.contentOffset() > 0 || s.contentOffset() + s.contentLength() < s.blobSize();
    if (s.encoding() == Encoding.RAW && (!needsUpstream || b.lastFetcher != null)) {
      VerifyResult r = verifier.verifyRaw(b, b.lastFetcher, false);
      // Only a file the kernel reads in passthrough has its damaged chunks back already.
      String back = r.status() == VerifyResult.Status.VERIFIED ? " (fetched again at once: the file is in use)" : "";
      return new VerifyResult(key, r.status(), r.detail() + (dropped == 0 ? "" : why + back), dropped);
    }
    return new VerifyResult(key, VerifyResult.Status.CHUNKS_OK, "all " + b.nChunks + " chunk checksums ok" + why, dropped);
  }

  /** Persists access times, flushes written blob files, closes the index and writes the CLEAN marker. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    if (ownedExecutor != null) {
      ownedExecutor.shutdownNow();
    }
    IOException err = null;
    for (Blob b : blobs.values()) {
      try {
        b.lastAccess = b.latestAccess();
        recovery.persistBlob(b);
        synchronized (b.persistLock) {
          for (int g = 0; g < b.present.length(); g++) {
            index.putGroup(b.key, g, b.present.get(g), b.crc, b.trusted);
          }
        }
        if (b.dirty && !b.forceAndClose() && Files.exists(b.file)) {
          try (FileChannel ch = FileChannel.open(b.file, StandardOpenOption.WRITE)) {
            ch.force(false);
          }
        }
      } catch (IOException | RuntimeException e) {
        err = err == null ? new IOException("closing cache: " + e.getMessage(), e) : err;
      }
    }
    index.close();
    if (err != null) {
      throw err;
    }
    try (FileChannel ch = FileChannel.open(cleanMarker, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new IOException("chunk cache " + cfg.dir() + " is closed");
    }
  }

}
