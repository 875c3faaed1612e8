package io.modelcache.cache;

import com.github.luben.zstd.ZstdInputStream;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;
import java.util.zip.GZIPInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * <p><b>Why the hit path touches no index and no lock.</b> A cache hit must cost about what a
 * pread costs, or the FUSE layer cannot get near disk speed. So each blob keeps an in-memory
 * presence bitmap (atomics), one open {@link FileChannel}, per-chunk pin counters and access
 * stamps. A hit pins its chunks, checks bits, stamps the time, preads, unpins. The LRU order is
 * only reconciled with those stamps when eviction runs ({@link LruPolicy}), and the persisted
 * index (Chronicle Map) is written only when chunks arrive or leave.
 *
 * <p><b>Why pin-then-check, and a read/write lock per blob.</b> Readers pin a chunk before testing
 * its bit; eviction clears the bit before testing the pin and puts it back if pinned. With both
 * sides using volatile accesses, either the reader sees the chunk missing (and refetches) or the
 * evictor sees it pinned: bytes under a reader are never punched out. Fetches write under the
 * blob's read lock and eviction punches under its write lock, so a hole can never land on bytes
 * that were just written for a newer copy of the chunk.
 *
 * <p><b>Why single flight and coalescing.</b> Model loaders fan out many threads over the same
 * tensors; N readers of a missing chunk must cost one upstream request, and a read spanning
 * several missing chunks one ranged request. A map of in-flight chunks per blob gives both: the
 * first reader claims the chunk, later ones wait on its future. A semaphore bounds upstream
 * requests per cache.
 *
 * <p><b>Why timeouts measure progress, not total time.</b> A slow but moving download of a large
 * range is fine; a silent upstream is not. Readers wait on a fetch only while it made progress
 * within {@link CacheConfig#fetchTimeout()}; otherwise they abort it (closing its stream and
 * returning its permit) and fail with an IOException, which FUSE turns into EIO instead of a hung
 * process. The next read simply tries again.
 *
 * <p><b>Why CRC32C per chunk and no fsync.</b> An fsync per chunk would cap throughput at the
 * disk's flush rate. Instead each chunk's CRC32C is recorded with its presence bit, and a clean
 * shutdown leaves a {@code CLEAN} marker. Without the marker, the index is opened with Chronicle's
 * recovery and every chunk marked present is read back and checked; chunks that fail are dropped
 * and refetched on demand. A torn write can therefore cost a refetch, never a wrong byte.
 *
 * <p><b>Why O_DIRECT writes and a small memory tier.</b> On the small VMs inference fleets run on,
 * the dominant CPU cost of ingest was not the network or hashing but fresh page-cache pages: a
 * buffered write of a fetched chunk costs the kernel a page allocation and copy per 4 KiB, and the
 * same bytes then get a second set of pages in the mount's own page cache when the reader takes
 * them. Measured on 2 vCPUs: buffered writes of new data cost about 2 CPU-seconds per GiB, O_DIRECT
 * writes about 0.15. So whole-block chunk writes go through O_DIRECT (probed at open; tmpfs and
 * some overlays refuse it and get buffered writes), and the chunk stays in memory
 * ({@link HotChunks}, bounded) until the reader it was fetched for has taken it once. Fetches read
 * from the socket straight into page-aligned direct buffers, so each byte is copied once in user
 * space on the way in. Warm reads (bytes fetched earlier) come from disk through the page cache.
 *
 * <p><b>Why hash in arrival order.</b> Verifying a completed blob used to re-read it from disk; on
 * a cold sequential read that re-read competed with the reader for CPU. Chunks that arrive in
 * order (or arrive early and wait in memory) are fed to the blob's sha256 as they come, so a blob
 * read front to back is verified without reading it again; completion hashes only the rest. Any
 * drop of an already-hashed chunk restarts the hash, so a refetch can never be verified against
 * bytes that are no longer in the file.
 *
 * <p><b>Why served bytes are unverified until the blob is complete (a deliberate trade).</b> The
 * only trustworthy checksum we have is the layer digest, over the whole blob. Waiting for the
 * whole blob before serving the first byte would defeat lazy loading, so chunks are served as
 * they arrive; once every chunk is present the blob is hashed (for tar members with the header
 * and trailer fetched from upstream, for compressed layers while streaming) and on mismatch the
 * blob is dropped, marked FAILED persistently, and every later read fails with "blob &lt;digest&gt;
 * failed verification". Once a blob has been verified, its chunks' CRC32C values are known good
 * and kept (persisted) even after those chunks are evicted, so a refetch that does not match is
 * rejected. (A blob larger than the budget is never whole at once, so it never gets this far:
 * closing that gap is what the per-chunk hook is for.) {@link ChunkListener} is the seam where per-chunk verification (a
 * later issue) can reject bad chunks before they become visible.
 *
 * <p><b>Why compressed layers are streamed whole.</b> gzip and zstd streams cannot be entered in
 * the middle, so the first miss starts one sequential fetch of the whole blob that decompresses on
 * the fly, writes the file's range and publishes chunks as they complete; readers wait only for
 * the chunks they need.
 *
 * <p><b>Why LRU at chunk granularity.</b> Models larger than the budget must still work (they just
 * refetch), and the hot parts of a model (embeddings, the first layers during warm-up) should stay
 * while cold ones go. Pinned chunks are never evicted, so usage can exceed the budget only by
 * chunks that readers are actively using.
 *
 * <p>Thread-safe. {@link #open(BlobSpec, BlobFetcher)} handles may be used from any thread.
 */
public final class ChunkCache implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(ChunkCache.class);
  private static final String CLEAN = "CLEAN";
  private static final int IO_BUF = 1 << 20;
  /** Chunks read ahead from disk for a reader walking a cached file (2 × 4 MiB covers disk latency). */
  private static final int DISK_AHEAD = 2;
  private static final AtomicInteger THREADS = new AtomicInteger();

  /** One chunk of one blob, the unit of LRU (identity of the Blob object matters). */
  record ChunkRef(Blob blob, int index) {}

  private final CacheConfig cfg;
  private final Path blobsDir;
  private final Path cleanMarker;
  private final CacheIndex index;
  private final ConcurrentHashMap<String, Blob> blobs = new ConcurrentHashMap<>();
  private final LruPolicy<ChunkRef> policy;
  private final Object evictLock = new Object();
  private final AtomicLong used = new AtomicLong();
  private final FetchScheduler scheduler;
  private final Executor executor;
  private final ExecutorService ownedExecutor;
  private final long timeoutNanos;
  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final LongAdder bytesFetched = new LongAdder();
  private final LongAdder evictions = new LongAdder();
  private final LongAdder evictedBytes = new LongAdder();
  private final LongAdder verifyFailures = new LongAdder();
  private volatile boolean closed;
  /** Just-fetched chunks until a reader takes them, and the fetch buffers. */
  private final HotChunks hot;
  /** Chunks being read from disk into memory (single flight). */
  private final ConcurrentHashMap<ChunkRef, CompletableFuture<Void>> loading = new ConcurrentHashMap<>();
  private final LongAdder diskLoads = new LongAdder();
  /** Writes go through O_DIRECT (probed at open: tmpfs and some overlays refuse it). */
  private final boolean directIo;
  /** The cache file system's block size: O_DIRECT writes must be multiples of it. */
  private final int align;
  /** Last time any fetch received bytes: a fetch still queued for a slot is not "stuck" while others move. */
  private volatile long anyProgress = System.nanoTime();

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
  }

  /**
   * Opens (or creates) the cache in {@code cfg.dir()}. After an unclean stop (no {@code CLEAN}
   * marker) the index is recovered and every cached chunk is re-checked against its CRC32C.
   */
  public static ChunkCache open(CacheConfig cfg) throws IOException {
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
    int align = blockSize(cfg.dir().resolve("blobs"));
    boolean direct = cfg.directIo() && probeDirectIo(cfg.dir().resolve("blobs"), align);
    ChunkCache cache = new ChunkCache(cfg, index, direct, align);
    try {
      cache.load(recover);
    } catch (IOException | RuntimeException e) {
      cache.close();
      throw e;
    }
    return cache;
  }

  private static int blockSize(Path dir) {
    try {
      long bs = Files.getFileStore(dir).getBlockSize();
      if (bs >= 512 && bs <= CacheConfig.MIN_CHUNK_SIZE && Long.bitCount(bs) == 1) {
        return (int) bs;
      }
    } catch (IOException | UnsupportedOperationException e) {
      // fall through to the common page size
    }
    return 4096;
  }

  /** Whether the cache directory takes O_DIRECT writes (tmpfs, for one, does not). */
  private static boolean probeDirectIo(Path dir, int align) {
    Path probe = dir.resolve(".direct-io-probe");
    try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
      ByteBuffer b = ByteBuffer.allocateDirect(2 * align).alignedSlice(align).limit(align);
      ch.write(b, 0);
      return true;
    } catch (IOException | RuntimeException e) {
      LOG.info("cache directory {} does not support O_DIRECT ({}); using buffered writes", dir, e.toString());
      return false;
    } finally {
      try {
        Files.deleteIfExists(probe);
      } catch (IOException ignored) {
        // a stray probe file is deleted at the next open
      }
    }
  }

  // ---------------------------------------------------------------- public API

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
          persistBlob(blob);
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
    maybeVerify(b, fetcher);
    return new Handle(b, fetcher);
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
        evictedBytes.sum(), verifyFailures.sum(), inflight);
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
          b.dropHash();
          hot.removeBlob(b);
          for (int i = 0; i < b.nChunks; i++) {
            if (b.clearPresent(i)) {
              used.addAndGet(-b.chunkLen(i));
              synchronized (policy) {
                policy.remove(new ChunkRef(b, i));
              }
            }
          }
          dropFile(b);
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
   * marks the blob FAILED exactly as a failed first verification does.
   */
  public VerifyResult verify(String key) throws IOException {
    ensureOpen();
    Blob b = blobs.get(key);
    if (b == null) {
      throw ModelCacheException.notFound("blob " + key + " is not cached");
    }
    if (b.state == BlobState.FAILED) {
      return new VerifyResult(key, VerifyResult.Status.FAILED, failure(b).getMessage());
    }
    // CRCs first: local damage shows up here and costs a refetch, not a FAILED blob.
    int dropped = checkChunks(b);
    String why = dropped == 0 ? "" : "; dropped " + dropped + " corrupt chunk(s)";
    if (!b.allPresent()) {
      return new VerifyResult(key, VerifyResult.Status.INCOMPLETE,
          b.presentCount.get() + " of " + b.nChunks + " chunks cached" + why);
    }
    BlobSpec s = b.spec;
    boolean needsUpstream = s.contentOffset() > 0 || s.contentOffset() + s.contentLength() < s.blobSize();
    if (s.encoding() == Encoding.RAW && (!needsUpstream || b.lastFetcher != null)) {
      return verifyRaw(b, b.lastFetcher, false);
    }
    return new VerifyResult(key, VerifyResult.Status.CHUNKS_OK, "all " + b.nChunks + " chunk checksums ok");
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
        persistBlob(b);
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

  // ---------------------------------------------------------------- the handle

  private final class Handle implements BlobHandle {
    private final Blob b;
    private final BlobFetcher fetcher;
    private final java.util.concurrent.atomic.AtomicBoolean closedFlag = new java.util.concurrent.atomic.AtomicBoolean();
    private final AtomicLong prefetchUsed = new AtomicLong();

    Handle(Blob b, BlobFetcher fetcher) {
      this.b = b;
      this.fetcher = fetcher;
    }

    @Override
    public int read(long fileOffset, ByteBuffer dst) throws IOException {
      if (closedFlag.get() || closed) {
        throw new IOException("handle on blob " + b.spec.digest() + " is closed");
      }
      if (fileOffset < 0) {
        throw new IllegalArgumentException("negative offset " + fileOffset);
      }
      if (b.state == BlobState.FAILED) {
        throw failure(b);
      }
      long len = b.contentLength();
      int want = dst.remaining();
      if (fileOffset >= len || want == 0) {
        return 0;
      }
      long end = Math.min(len, fileOffset + want);
      int first = (int) (fileOffset >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      for (int i = first; i <= last; i++) {
        b.pins.incrementAndGet(i);
      }
      try {
        ensureChunks(b, fetcher, first, last);
        if (b.state == BlobState.FAILED) {
          throw failure(b);
        }
        if (b.prefetchedCount.get() > 0) {
          for (int i = first; i <= last; i++) {
            if (b.clearPrefetched(i)) {
              prefetchUsed.addAndGet(b.chunkLen(i));
            }
          }
        }
        int n = (int) (end - fileOffset);
        int base = dst.position();
        for (long pos = fileOffset; pos < end; ) {
          int i = (int) (pos >>> b.chunkShift);
          long stop = Math.min(end, b.chunkStart(i) + b.chunkLen(i));
          copyChunk(b, i, pos, dst.slice(base + (int) (pos - fileOffset), (int) (stop - pos)));
          pos = stop;
        }
        if (b.state == BlobState.FAILED) {
          throw failure(b); // never hand out bytes of a blob that failed verification meanwhile
        }
        dst.position(base + n);
        return n;
      } finally {
        for (int i = first; i <= last; i++) {
          b.pins.decrementAndGet(i);
        }
        if (used.get() > cfg.budgetBytes()) {
          maybeEvict();
        }
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
      if (closedFlag.get() || closed || b.state == BlobState.FAILED || length <= 0 || fileOffset >= b.contentLength()) {
        return Prefetch.NONE;
      }
      long end = Math.min(b.contentLength(), fileOffset + length);
      int first = (int) (Math.max(0, fileOffset) >>> b.chunkShift);
      int last = (int) ((end - 1) >>> b.chunkShift);
      List<Pending> mine = new ArrayList<>();
      long bytes = 0;
      for (int i = first; i <= last; i++) {
        if (!b.isPresent(i)) {
          Pending claim = claim(b, i);
          if (claim != null) {
            mine.add(claim);
            bytes += b.chunkLen(i);
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
      startFetches(b, fetcher, mine, priority);
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
    public void close() {
      if (!closedFlag.compareAndSet(false, true)) {
        return;
      }
      b.lastAccess = Math.max(b.lastAccess, cfg.clock().getAsLong());
      if (b.removeHandle() == 0) {
        b.lastFetcher = null;
        if (!closed) {
          try {
            persistBlob(b);
          } catch (RuntimeException e) {
            LOG.warn("cannot persist blob {}: {}", b.key, e.toString());
          }
        }
      }
      b.release();
    }
  }

  /** Copies part of one present, pinned chunk: from memory if it just arrived, else from the file. */
  private void copyChunk(Blob b, int i, long pos, ByteBuffer view) throws IOException {
    ChunkRef ref = new ChunkRef(b, i);
    HotChunks.Entry e = hot.acquire(ref);
    if (e == null && !b.wasDiskLoaded(i)) {
      e = loadChunk(b, i, ref);
    }
    if (e != null) {
      if (e.fromDisk && hot.claimAhead(e) && (i == 0 || b.wasDiskLoaded(i - 1))) {
        loadAhead(b, i); // a reader walking the file from disk: overlap the next reads with this one
      }
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
          throw failure(b); // verification failed while we read: the file was dropped under us
        }
        throw new IOException("cache file " + b.file + " is shorter than its cached chunks");
      }
    }
  }

  /**
   * Reads a whole present chunk from disk with O_DIRECT into memory and returns it acquired, or
   * null (no O_DIRECT, no room, a short read) when the caller should read through the page cache.
   * Why: a buffered read would give the cache file its own page-cache pages on top of the mount's,
   * the same cost that O_DIRECT writes avoid on the way in. One load per chunk at a time, and once
   * per chunk: a chunk read from disk before and asked for again (the kernel dropped a few of the
   * mount's pages) is read through the page cache, not 4 MiB at a time for each 128 KiB request.
   */
  private HotChunks.Entry loadChunk(Blob b, int i, ChunkRef ref) throws IOException {
    FileChannel d = b.directChannel();
    if (d == null || hot.capacity() < b.chunkSize) {
      return null;
    }
    CompletableFuture<Void> mine = new CompletableFuture<>();
    CompletableFuture<Void> other = loading.putIfAbsent(ref, mine);
    if (other != null) {
      try {
        other.get(timeoutNanos, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while reading blob " + b.spec.digest());
      } catch (ExecutionException | TimeoutException e) {
        return null;
      }
      return hot.acquire(ref);
    }
    ByteBuffer buf = hot.take();
    try {
      int len = b.chunkLen(i);
      buf.clear().limit((len + align - 1) / align * align);
      long pos = b.chunkStart(i);
      while (buf.position() < len) {
        int r = d.read(buf, pos + buf.position());
        if (r <= 0) {
          return null;
        }
      }
      buf.flip().limit(len);
      b.markDiskLoaded(i);
      if (!hot.put(ref, buf, len, false, true)) {
        return null;
      }
      buf = null;
      diskLoads.increment();
      return hot.acquire(ref);
    } finally {
      hot.give(buf);
      loading.remove(ref, mine);
      mine.complete(null);
    }
  }

  /** Loads the next {@link #DISK_AHEAD} present chunks from disk in the background. */
  private void loadAhead(Blob b, int i) {
    for (int k = i + 1; k <= Math.min(b.nChunks - 1, i + DISK_AHEAD); k++) {
      ChunkRef r = new ChunkRef(b, k);
      if (!b.isPresent(k) || b.wasDiskLoaded(k) || loading.containsKey(r) || hot.contains(r)) {
        continue;
      }
      int chunk = k;
      try {
        executor.execute(() -> {
          if (b.removed || closed) {
            return;
          }
          b.pins.incrementAndGet(chunk);
          try {
            b.acquire();
            try {
              if (b.isPresent(chunk) && !closed) {
                HotChunks.Entry e = loadChunk(b, chunk, r);
                if (e != null) {
                  hot.release(r, e, 0);
                }
              }
            } finally {
              b.release();
            }
          } catch (IOException | RuntimeException e) {
            LOG.debug("reading ahead chunk {} of blob {} from disk: {}", chunk, b.spec.digest(), e.toString());
          } finally {
            b.pins.decrementAndGet(chunk);
          }
        });
      } catch (RejectedExecutionException closedPool) {
        return;
      }
    }
  }

  // ---------------------------------------------------------------- misses and fetches

  /** Returns the new claim on chunk i, or null if it is present or already in flight. */
  private static Pending claim(Blob b, int i) {
    Pending claim = new Pending(i);
    if (b.inflight.putIfAbsent(i, claim) != null) {
      return null;
    }
    if (b.isPresent(i)) {
      b.inflight.remove(i, claim);
      claim.future.complete(null);
      return null;
    }
    return claim;
  }

  /** Makes chunks [first, last] present (the caller has pinned them) or throws. */
  private void ensureChunks(Blob b, BlobFetcher fetcher, int first, int last) throws IOException {
    long now = cfg.clock().getAsLong();
    List<Pending> waits = null;
    List<Pending> mine = null;
    int hit = 0;
    for (int i = first; i <= last; i++) {
      if (b.isPresent(i)) {
        hit++;
        b.touch(i, now);
        continue;
      }
      misses.increment();
      Pending p = b.inflight.get(i);
      if (p == null) {
        Pending c = new Pending(i);
        p = b.inflight.putIfAbsent(i, c);
        if (p == null) {
          if (b.isPresent(i)) {
            b.inflight.remove(i, c);
            c.future.complete(null);
            continue;
          }
          p = c;
          if (mine == null) {
            mine = new ArrayList<>();
          }
          mine.add(c);
        }
      }
      if (waits == null) {
        waits = new ArrayList<>();
      }
      waits.add(p);
    }
    hits.add(hit);
    if (waits == null) {
      return;
    }
    if (mine != null) {
      startFetches(b, fetcher, mine, FetchPriority.DEMAND);
    }
    for (Pending p : waits) {
      Fetch f = p.fetch;
      if (f != null && f.priority != FetchPriority.DEMAND) {
        f.boost();
      }
      await(b, p);
    }
    now = cfg.clock().getAsLong();
    for (int i = first; i <= last; i++) {
      b.touch(i, now);
    }
  }

  private void await(Blob b, Pending p) throws IOException {
    while (true) {
      Fetch running = p.fetch;
      long last = p.lastProgress();
      if (running == null || !running.started) {
        last = Math.max(last, anyProgress); // queued behind other fetches that are moving
      }
      long left = timeoutNanos - (System.nanoTime() - last);
      if (left <= 0) {
        IOException e = new ModelCacheException(ModelCacheException.Kind.UNREACHABLE,
            "timed out fetching blob " + b.spec.digest() + ": no progress from upstream for "
                + cfg.fetchTimeout().toMillis() + " ms");
        Fetch f = p.fetch;
        if (f != null) {
          f.fail(e);
        } else {
          b.inflight.remove(p.chunk, p);
          p.future.completeExceptionally(e);
        }
        throw e;
      }
      try {
        p.future.get(left, TimeUnit.NANOSECONDS);
        return;
      } catch (TimeoutException e) {
        // loop: fail only if the fetch made no progress in the whole window
      } catch (ExecutionException e) {
        throw rethrown(e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while fetching blob " + b.spec.digest());
      }
    }
  }

  /** A fresh exception per waiter (the shared one keeps its cause and kind). */
  private static IOException rethrown(Throwable cause) {
    if (cause instanceof ModelCacheException m) {
      return new ModelCacheException(m.kind(), m.getMessage(), m);
    }
    return new IOException(cause.getMessage(), cause);
  }

  /** Starts fetches for claimed chunks (ascending): one ranged request per run, or one stream. */
  private void startFetches(Blob b, BlobFetcher fetcher, List<Pending> claims, FetchPriority priority) {
    if (b.spec.encoding() != Encoding.RAW) {
      Map<Integer, Pending> all = new HashMap<>();
      for (Pending p : claims) {
        all.put(p.chunk, p);
      }
      for (int i = 0; i < b.nChunks; i++) {
        if (!all.containsKey(i) && !b.isPresent(i)) {
          Pending c = claim(b, i);
          if (c != null) {
            all.put(i, c);
          }
        }
      }
      List<Pending> ordered = new ArrayList<>(all.values());
      ordered.sort((x, y) -> Integer.compare(x.chunk, y.chunk));
      Fetch f = new Fetch(b, ordered, priority);
      submit(f, () -> runStream(f, fetcher));
      return;
    }
    int maxRun = Math.max(1, (64 << 20) / b.chunkSize);
    int start = 0;
    for (int i = 1; i <= claims.size(); i++) {
      boolean breakRun = i == claims.size()
          || claims.get(i).chunk != claims.get(i - 1).chunk + 1
          || i - start >= maxRun;
      if (breakRun) {
        Fetch f = new Fetch(b, List.copyOf(claims.subList(start, i)), priority);
        submit(f, () -> runRaw(f, fetcher));
        start = i;
      }
    }
  }

  /** Queues the fetch with the scheduler; it runs on the executor once it has a slot. */
  private void submit(Fetch f, Runnable task) {
    FetchScheduler.Ticket t = scheduler.ticket(f.priority, task,
        () -> f.fail(new IOException("chunk cache is closed")));
    f.bind(scheduler, t);
    scheduler.submit(t);
  }

  /** The task got its slot: mark the fetch started, or give the slot back if it already ended. */
  private static void begin(Fetch f) throws IOException {
    if (f.isDone()) {
      throw new IOException("fetch aborted");
    }
    f.markStarted();
  }

  private void runRaw(Fetch f, BlobFetcher fetcher) {
    Blob b = f.blob;
    boolean acquired = false;
    try {
      begin(f);
      b.acquire();
      acquired = true;
      int a = f.claims.get(0).chunk;
      int z = f.claims.get(f.claims.size() - 1).chunk;
      long start = b.chunkStart(a);
      long end = b.chunkStart(z) + b.chunkLen(z);
      ByteBuffer buf = hot.take();
      try (InputStream in = fetcher.open(b.spec.contentOffset() + start, end - start)) {
        f.stream(in);
        byte[] staging = in instanceof ReadableByteChannel ? null : new byte[64 << 10];
        for (Pending p : f.claims) {
          int n = b.chunkLen(p.chunk);
          readFully(in, staging, buf, n, f, b.spec.contentOffset() + b.chunkStart(p.chunk));
          if (storeChunk(f, p, buf, n)) {
            buf = hot.take();
          }
        }
      } finally {
        hot.give(buf);
      }
      f.finish();
    } catch (Throwable t) {
      f.fail(asIo(b, t));
    } finally {
      f.releasePermit();
      if (acquired) {
        b.release();
      }
    }
    maybeEvict();
    maybeVerify(b, fetcher);
  }

  private void runStream(Fetch f, BlobFetcher fetcher) {
    Blob b = f.blob;
    boolean acquired = false;
    Map<Integer, Pending> mine = new HashMap<>();
    for (Pending p : f.claims) {
      mine.put(p.chunk, p);
    }
    try {
      begin(f);
      b.acquire();
      acquired = true;
      MessageDigest md = Digest.sha256();
      try (InputStream raw = fetcher.open(0, b.spec.blobSize())) {
        f.stream(raw);
        HashingStream hashed = new HashingStream(raw, md, f);
        InputStream dec = b.spec.encoding() == Encoding.GZIP
            ? new GZIPInputStream(hashed, 1 << 16) : new ZstdInputStream(hashed);
        try {
          skipFully(dec, b.spec.contentOffset(), b);
          byte[] staging = new byte[1 << 16];
          ByteBuffer buf = hot.take();
          try {
            for (int i = 0; i < b.nChunks && !f.isDone(); i++) {
              int n = b.chunkLen(i);
              readFully(dec, staging, buf, n, f, -1);
              Pending p = mine.get(i);
              if (p != null && storeChunk(f, p, buf, n)) {
                buf = hot.take();
              }
            }
          } finally {
            hot.give(buf);
          }
          dec.transferTo(OutputSink.INSTANCE);
        } catch (IOException | RuntimeException decodeError) {
          // Corrupt compressed bytes surface as a decoder error, not a digest mismatch: finish
          // hashing what upstream sends to tell corruption (FAILED) from a transport problem.
          if (f.isDone() || b.state == BlobState.FAILED) {
            throw decodeError;
          }
          try {
            hashed.transferTo(OutputSink.INSTANCE);
          } catch (IOException transport) {
            throw decodeError;
          }
          if (hashed.count == b.spec.blobSize() && Digest.of(md).equals(b.spec.digest())) {
            throw decodeError;
          }
        }
        hashed.transferTo(OutputSink.INSTANCE);
        if (hashed.count != b.spec.blobSize() || !Digest.of(md).equals(b.spec.digest())) {
          failBlob(b);
          f.fail(failure(b));
        } else {
          f.finish();
          markVerified(b);
        }
      }
    } catch (Throwable t) {
      f.fail(asIo(b, t));
    } finally {
      f.releasePermit();
      if (acquired) {
        b.release();
      }
    }
    maybeEvict();
  }

  private IOException asIo(Blob b, Throwable t) {
    if (t instanceof IOException e) {
      return e;
    }
    return new IOException("fetching blob " + b.spec.digest() + " failed: " + t, t);
  }

  /**
   * Reads exactly {@code n} bytes into {@code dst} (cleared first, flipped after): straight into the
   * direct buffer when the stream is also a channel, else through {@code staging}.
   */
  private void readFully(InputStream in, byte[] staging, ByteBuffer dst, int n, Fetch f, long at) throws IOException {
    dst.clear().limit(n);
    ReadableByteChannel ch = staging == null ? (ReadableByteChannel) in : null;
    while (dst.hasRemaining()) {
      if (f.isDone()) {
        throw new IOException("fetch of blob " + f.blob.spec.digest() + " was aborted");
      }
      int r;
      if (ch != null) {
        r = ch.read(dst);
      } else {
        r = in.read(staging, 0, Math.min(staging.length, dst.remaining()));
        if (r > 0) {
          dst.put(staging, 0, r);
        }
      }
      if (r < 0) {
        throw new EOFException("upstream ended early for blob " + f.blob.spec.digest()
            + (at >= 0 ? " at offset " + (at + dst.position()) : ""));
      }
      f.progress();
      anyProgress = f.lastProgress;
      if (at >= 0) {
        bytesFetched.add(r);
      }
    }
    dst.flip();
  }

  private static void skipFully(InputStream in, long n, Blob b) throws IOException {
    long left = n;
    while (left > 0) {
      long s = in.skip(left);
      if (s <= 0) {
        if (in.read() < 0) {
          throw new EOFException("blob " + b.spec.digest() + " decompresses to fewer than " + n + " bytes");
        }
        s = 1;
      }
      left -= s;
    }
  }

  /**
   * Checks, writes, publishes and persists one fetched chunk held in {@code data} (position 0,
   * limit n). Returns true if the in-memory tier kept the buffer (the caller needs a new one).
   */
  private boolean storeChunk(Fetch f, Pending p, ByteBuffer data, int n) throws IOException {
    Blob b = f.blob;
    int i = p.chunk;
    if (f.isDone() || closed) {
      throw new IOException("fetch of blob " + b.spec.digest() + " was aborted");
    }
    CRC32C c = new CRC32C();
    c.update(data.duplicate());
    int crc = (int) c.getValue();
    if (b.trusted && crc != b.crc[i]) {
      verifyFailures.increment();
      throw ModelCacheException.digestMismatch("chunk " + i + " of blob " + b.spec.digest()
          + " does not match the checksum recorded when the blob was verified");
    }
    cfg.chunkListener().accepted(b.spec, i, data.asReadOnlyBuffer());
    boolean kept;
    b.rw.readLock().lock();
    try {
      if (b.removed) {
        throw new IOException("blob " + b.key + " was evicted while fetching");
      }
      if (b.state == BlobState.FAILED) {
        throw failure(b);
      }
      write(b, i, data.duplicate());
      b.crc[i] = crc;
      kept = admit(b, i, data, n, f.priority);
      if (b.setPresent(i)) {
        used.addAndGet(n);
        synchronized (policy) {
          if (f.priority == FetchPriority.FILL) {
            // Fill brings in what nobody asked for yet: first in line for eviction, so it never
            // pushes out chunks a reader is using.
            policy.add(new ChunkRef(b, i), n, 0L);
          } else {
            policy.add(new ChunkRef(b, i), n);
          }
        }
        if (f.priority != FetchPriority.DEMAND) {
          b.setPrefetched(i);
        }
      }
      b.dirty = true;
    } finally {
      b.rw.readLock().unlock();
    }
    persistGroup(b, i >>> 6);
    f.chunkDone(p);
    if (used.get() > cfg.budgetBytes()) {
      maybeEvict();
    }
    return kept;
  }

  /** Writes chunk i: whole file-system blocks through O_DIRECT (no page-cache pages), else buffered. */
  private void write(Blob b, int i, ByteBuffer src) throws IOException {
    long pos = b.chunkStart(i);
    FileChannel direct = b.directChannel();
    FileChannel ch = direct != null && src.remaining() % align == 0 && src.isDirect() ? direct : b.channel();
    while (src.hasRemaining()) {
      pos += ch.write(src, pos);
    }
  }

  /**
   * Feeds chunk i to the blob's in-order hash if it is the next one (then any later chunks still in
   * memory), and decides whether memory keeps the buffer: for the reader it was fetched for, or
   * while the hash has not reached it. Under the blob's hash lock, so that a chunk that arrives
   * early is either found in memory by the catch-up or hashed when its turn comes. Returns true if
   * memory took the buffer.
   */
  private boolean admit(Blob b, int i, ByteBuffer data, int n, FetchPriority prio) {
    synchronized (b.hashLock) {
      boolean awaitingHash = b.hasher != null && i > b.hashedChunks;
      if (b.hasher != null && i == b.hashedChunks) {
        b.hasher.update(data.duplicate());
        b.hashedChunks++;
        while (b.hashedChunks < b.nChunks) {
          ChunkRef next = new ChunkRef(b, b.hashedChunks);
          HotChunks.Entry e = hot.acquire(next);
          if (e == null) {
            break;
          }
          try {
            b.hasher.update(e.slice(0, e.length));
            b.hashedChunks++;
          } finally {
            hot.hashed(next, e);
            hot.release(next, e, 0);
          }
        }
      }
      return (prio != FetchPriority.FILL || awaitingHash) && hot.put(new ChunkRef(b, i), data, n, awaitingHash);
    }
  }

  // ---------------------------------------------------------------- verification

  private static IOException failure(Blob b) {
    return ModelCacheException.digestMismatch("blob " + b.spec.digest() + " failed verification");
  }

  /** Schedules the whole-blob check of a raw blob once all its chunks are present. */
  private void maybeVerify(Blob b, BlobFetcher fetcher) {
    if (closed || b.spec.encoding() != Encoding.RAW || b.state != BlobState.PARTIAL || !b.allPresent()) {
      return;
    }
    if (!b.verifying.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(() -> {
        try {
          verifyRaw(b, fetcher, true);
        } catch (IOException | RuntimeException e) {
          LOG.warn("cannot verify blob {} yet: {}", b.spec.digest(), e.toString());
        } finally {
          b.verifying.set(false);
        }
      });
    } catch (RejectedExecutionException e) {
      b.verifying.set(false);
    }
  }

  /**
   * Hashes prefix + file + suffix of a raw blob; marks it COMPLETE or FAILED. With
   * {@code incremental}, starts from what the in-order hash took as chunks arrived, so a blob read
   * in order is not read back at all; an explicit verify re-reads everything.
   */
  private VerifyResult verifyRaw(Blob b, BlobFetcher fetcher, boolean incremental) throws IOException {
    BlobSpec s = b.spec;
    for (int i = 0; i < b.nChunks; i++) {
      b.pins.incrementAndGet(i);
    }
    b.acquire();
    try {
      if (!b.allPresent()) {
        return new VerifyResult(b.key, VerifyResult.Status.INCOMPLETE,
            b.presentCount.get() + " of " + b.nChunks + " chunks cached");
      }
      MessageDigest md = null;
      long pos = 0;
      if (incremental) {
        synchronized (b.hashLock) {
          if (b.hasher != null) {
            try {
              md = (MessageDigest) b.hasher.clone();
              pos = Math.min(s.contentLength(), b.chunkStart(b.hashedChunks));
            } catch (CloneNotSupportedException e) {
              md = null;
            }
          }
        }
      }
      if (md == null) {
        md = Digest.sha256();
        pos = 0;
      }
      long total = 0;
      if (s.contentOffset() > 0) {
        total += hashUpstream(fetcher, 0, s.contentOffset(), md, b);
      }
      FileChannel ch = b.channel();
      ByteBuffer buf = ByteBuffer.allocate(IO_BUF);
      while (pos < s.contentLength()) {
        buf.clear().limit((int) Math.min(IO_BUF, s.contentLength() - pos));
        int r = ch.read(buf, pos);
        if (r < 0) {
          throw new EOFException("cache file " + b.file + " is shorter than its cached chunks");
        }
        md.update(buf.array(), 0, r);
        pos += r;
      }
      total += s.contentLength();
      long suffix = s.contentOffset() + s.contentLength();
      if (suffix < s.blobSize()) {
        total += hashUpstream(fetcher, suffix, s.blobSize() - suffix, md, b);
      }
      if (total == s.blobSize() && Digest.of(md).equals(s.digest())) {
        markVerified(b);
        return new VerifyResult(b.key, VerifyResult.Status.VERIFIED, "sha256 matches " + s.digest());
      }
      failBlob(b);
      return new VerifyResult(b.key, VerifyResult.Status.FAILED, failure(b).getMessage());
    } finally {
      b.release();
      for (int i = 0; i < b.nChunks; i++) {
        b.pins.decrementAndGet(i);
      }
    }
  }

  private long hashUpstream(BlobFetcher fetcher, long off, long len, MessageDigest md, Blob b) throws IOException {
    if (fetcher == null) {
      throw new IOException("no upstream attached to verify blob " + b.spec.digest());
    }
    long total = 0;
    byte[] buf = new byte[64 << 10];
    try (InputStream in = fetcher.open(off, len)) {
      while (total < len) {
        int r = in.read(buf, 0, (int) Math.min(buf.length, len - total));
        if (r < 0) {
          break;
        }
        md.update(buf, 0, r);
        total += r;
      }
    }
    bytesFetched.add(total);
    return total;
  }

  private void markVerified(Blob b) {
    b.rw.writeLock().lock();
    try {
      if (b.state == BlobState.PARTIAL && b.allPresent() && !b.removed) {
        b.state = BlobState.COMPLETE;
        b.trusted = true;
        b.dropHash();
        persistBlob(b);
        for (int g = 0; g < b.present.length(); g++) {
          persistGroup(b, g);
        }
      }
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  /** Drops a blob whose digest did not match; it stays FAILED (persisted) until evicted. */
  private void failBlob(Blob b) {
    b.rw.writeLock().lock();
    try {
      if (b.state == BlobState.FAILED) {
        return;
      }
      b.state = BlobState.FAILED;
      b.trusted = false;
      b.dropHash();
      hot.removeBlob(b);
      verifyFailures.increment();
      LOG.warn("blob {} failed verification; dropped its cached data", b.spec.digest());
      for (int i = 0; i < b.nChunks; i++) {
        if (b.clearPresent(i)) {
          used.addAndGet(-b.chunkLen(i));
          synchronized (policy) {
            policy.remove(new ChunkRef(b, i));
          }
        }
      }
      dropFile(b);
      persistBlob(b);
      for (int g = 0; g < b.present.length(); g++) {
        persistGroup(b, g);
      }
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  /** Deletes the blob file, or truncates it while someone still has it open. Caller holds rw write. */
  private static void dropFile(Blob b) {
    try {
      synchronized (b) {
        FileChannel ch = b.channel();
        if (ch != null) {
          ch.truncate(0);
        } else {
          Files.deleteIfExists(b.file);
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot drop cache file {}: {}", b.file, e.toString());
    }
  }

  /** Reads back every present chunk and drops those whose CRC32C does not match; returns how many. */
  private int checkChunks(Blob b) throws IOException {
    int dropped = 0;
    if (b.presentCount.get() == 0) {
      return 0;
    }
    if (!Files.exists(b.file)) {
      for (int i = 0; i < b.nChunks; i++) {
        if (b.isPresent(i) && dropChunk(b, i, false)) {
          dropped++;
        }
      }
      return dropped;
    }
    ByteBuffer buf = ByteBuffer.allocate(b.chunkSize);
    try (FileChannel ch = FileChannel.open(b.file, StandardOpenOption.READ)) {
      for (int i = 0; i < b.nChunks; i++) {
        if (!b.isPresent(i)) {
          continue;
        }
        int n = b.chunkLen(i);
        buf.clear().limit(n);
        long pos = b.chunkStart(i);
        while (buf.hasRemaining()) {
          int r = ch.read(buf, pos + buf.position());
          if (r < 0) {
            break;
          }
        }
        CRC32C c = new CRC32C();
        c.update(buf.array(), 0, buf.position());
        if (buf.position() != n || (int) c.getValue() != b.crc[i]) {
          if (dropChunk(b, i, false)) {
            dropped++;
          }
        }
      }
    }
    return dropped;
  }

  // ---------------------------------------------------------------- eviction

  private void maybeEvict() {
    if (used.get() <= cfg.budgetBytes()) {
      return;
    }
    synchronized (evictLock) {
      while (used.get() > cfg.budgetBytes()) {
        List<ChunkRef> victims;
        synchronized (policy) {
          victims = policy.victims(used.get() - cfg.budgetBytes(),
              r -> r.blob().pins.get(r.index()) > 0,
              r -> r.blob().access.get(r.index()));
        }
        if (victims.isEmpty()) {
          return;
        }
        for (ChunkRef r : victims) {
          dropChunk(r.blob(), r.index(), true);
        }
      }
    }
  }

  /**
   * Removes one chunk: clears its bit (unless a reader pinned it meanwhile), frees its space and
   * persists the change. Returns true if it was removed.
   */
  private boolean dropChunk(Blob b, int i, boolean eviction) {
    b.rw.writeLock().lock();
    try {
      if (!b.clearPresent(i)) {
        return false;
      }
      int n = b.chunkLen(i);
      if (b.pins.get(i) > 0) {
        b.setPresent(i);
        synchronized (policy) {
          policy.add(new ChunkRef(b, i), n, b.access.get(i));
        }
        return false;
      }
      used.addAndGet(-n);
      hot.remove(new ChunkRef(b, i));
      synchronized (b.hashLock) {
        if (b.hasher != null && i < b.hashedChunks) {
          b.resetHash(); // what was hashed may come back different: start over
        }
      }
      if (!eviction) {
        synchronized (policy) {
          policy.remove(new ChunkRef(b, i));
        }
      } else {
        evictions.increment();
        evictedBytes.add(n);
      }
      if (b.state == BlobState.COMPLETE) {
        b.state = BlobState.PARTIAL;
        persistBlob(b);
      }
      boolean deleted = false;
      synchronized (b) {
        if (b.presentCount.get() == 0 && b.users() == 0) {
          try {
            Files.deleteIfExists(b.file);
            deleted = true;
          } catch (IOException e) {
            LOG.warn("cannot delete cache file {}: {}", b.file, e.toString());
          }
        }
      }
      if (!deleted && Files.exists(b.file)) {
        HolePuncher.punch(b.file, b.chunkStart(i), n);
      }
      persistGroup(b, i >>> 6);
      return true;
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  // ---------------------------------------------------------------- persistence

  private void persistBlob(Blob b) {
    if (closed && index == null) {
      return;
    }
    synchronized (b.persistLock) {
      if (!b.removed) {
        index.putBlob(b.key, b.spec, b.chunkSize, b.state, b.lastAccess, b.trusted);
      }
    }
  }

  private void persistGroup(Blob b, int g) {
    if (closed) {
      return;
    }
    synchronized (b.persistLock) {
      if (!b.removed) {
        index.putGroup(b.key, g, b.present.get(g), b.crc, b.trusted);
      }
    }
  }

  /** Rebuilds the in-memory state from the index; with {@code verifyChunks}, re-checks every CRC. */
  private void load(boolean verifyChunks) throws IOException {
    for (CacheIndex.BlobRecord r : index.blobs()) {
      int cs = r.chunkSize();
      if (cs < CacheConfig.MIN_CHUNK_SIZE || cs > CacheConfig.MAX_CHUNK_SIZE || Integer.bitCount(cs) != 1) {
        index.removeBlob(r.key(), 0);
        continue;
      }
      Blob b = new Blob(r.spec(), cs, blobsDir.resolve(r.key()), directIo);
      b.state = r.state();
      b.lastAccess = r.lastAccess();
      b.trusted = r.trusted() && r.state() != BlobState.FAILED;
      blobs.put(r.key(), b);
    }
    index.groups((key, g, bits, crcs) -> {
      Blob b = blobs.get(key);
      if (b == null || b.state == BlobState.FAILED || g >= b.present.length()) {
        return false;
      }
      for (int j = 0; j < CacheIndex.GROUP; j++) {
        int i = g * CacheIndex.GROUP + j;
        if (i < b.nChunks && ((bits & (1L << j)) != 0 || b.trusted)) {
          b.crc[i] = crcs[j];
        }
        if (i < b.nChunks && (bits & (1L << j)) != 0) {
          b.setPresent(i);
        }
      }
      return bits != 0 || b.trusted;
    });
    List<Blob> sorted = new ArrayList<>(blobs.values());
    sorted.sort((x, y) -> Long.compare(x.lastAccess, y.lastAccess));
    for (Blob b : sorted) {
      if (b.state == BlobState.FAILED) {
        Files.deleteIfExists(b.file);
        continue;
      }
      if (verifyChunks || !fileCoversChunks(b)) {
        int bad = checkChunks(b);
        if (bad > 0) {
          LOG.warn("blob {}: dropped {} chunk(s) that failed their checksum after an unclean stop", b.key, bad);
        }
      }
      if (b.state == BlobState.COMPLETE && !b.allPresent()) {
        b.state = BlobState.PARTIAL;
        persistBlob(b);
      }
      b.resetHash();
      if (b.presentCount.get() == 0 && b.nChunks > 0) {
        // Housekeeping: a blob with nothing cached costs index space only (its known-good CRCs
        // are the one thing lost), so the index stays proportional to the budget.
        blobs.remove(b.key);
        index.removeBlob(b.key, b.present.length());
        Files.deleteIfExists(b.file);
        continue;
      }
      for (int i = 0; i < b.nChunks; i++) {
        if (b.isPresent(i)) {
          policy.add(new ChunkRef(b, i), b.chunkLen(i), b.lastAccess);
        }
      }
    }
    long total = 0;
    for (Blob b : blobs.values()) {
      total += b.cachedBytes.get();
    }
    used.set(total);
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(blobsDir)) {
      for (Path p : ds) {
        Blob b = blobs.get(p.getFileName().toString());
        if (b == null || b.state == BlobState.FAILED) {
          Files.deleteIfExists(p);
        }
      }
    }
    maybeEvict();
  }

  /** Cheap sanity check on a clean start: the file exists and reaches its last present chunk. */
  private static boolean fileCoversChunks(Blob b) throws IOException {
    if (b.presentCount.get() == 0) {
      return true;
    }
    if (!Files.exists(b.file)) {
      return false;
    }
    for (int i = b.nChunks - 1; i >= 0; i--) {
      if (b.isPresent(i)) {
        return Files.size(b.file) >= b.chunkStart(i) + b.chunkLen(i);
      }
    }
    return true;
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new IOException("chunk cache " + cfg.dir() + " is closed");
    }
  }

  /** Hashes and counts the compressed bytes as the decompressor pulls them; reports progress. */
  private final class HashingStream extends InputStream {
    private final InputStream in;
    private final MessageDigest md;
    private final Fetch f;
    long count;

    HashingStream(InputStream in, MessageDigest md, Fetch f) {
      this.in = in;
      this.md = md;
      this.f = f;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int r = in.read(b, off, len);
      if (r > 0) {
        md.update(b, off, r);
        count += r;
        bytesFetched.add(r);
        f.progress();
        anyProgress = f.lastProgress;
      }
      return r;
    }
  }

  /** Discards bytes (draining the rest of a stream so that all of it is hashed). */
  private static final class OutputSink extends java.io.OutputStream {
    static final OutputSink INSTANCE = new OutputSink();

    @Override
    public void write(int b) {}

    @Override
    public void write(byte[] b, int off, int len) {}
  }
}
