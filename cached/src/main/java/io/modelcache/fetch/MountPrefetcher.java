package io.modelcache.fetch;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.FetchPriority;
import io.modelcache.oci.Digest;
import io.modelcache.safetensors.SafetensorsFormatException;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything one mount fetches ahead of its readers: the model's {@link ReadPlan} (built from the
 * safetensors headers, fetched as soon as a shard is opened), read-ahead that follows each open file
 * in plan order, replay of a learned {@link AccessProfile}, recording of a new one, and the
 * background fill that brings the rest of the model in at the lowest priority.
 *
 * <p>Threading: {@link Tracker#onRead} runs on the reader's (FUSE) thread and never blocks: it only
 * claims chunks and queues fetches with the cache's scheduler. Headers are loaded on their own pool
 * (one thread per shard, up to {@link #HEADER_THREADS}), from {@link #fetchHeaders} at mount on;
 * the profile replay and fill run on one driver thread. {@link #close()} stops both (fetches already
 * queued finish or fail on their own) and saves a newly learned profile.
 */
public final class MountPrefetcher implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(MountPrefetcher.class);
  private static final AtomicInteger THREADS = new AtomicInteger();
  private static final long MAX_INDEX = 64L << 20;
  private static final int MAX_PROFILE_ENTRIES = 1 << 22;
  private static final int MAX_FILL_FAILURES = 3;
  static final int HEADER_THREADS = 8;
  /**
   * Fill waits while a reader read within this long: the reader's own read-ahead keeps the link busy,
   * and what fill brings in goes to disk only (not the memory tier), so fetching it under a
   * streaming reader costs CPU now and a disk read later.
   */
  private static final long FILL_YIELD_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
  /**
   * Bytes per read-ahead request; 0: the maximum window (64 MiB by default), so a sequential reader's
   * window goes out as one request, not four: each request costs the registry CPU of its own
   * (docs/performance.md, "Where the cold path's CPU goes"). Demand reads stay chunk-sized.
   * Overridable for measurements ({@code -Dmodelcache.readAhead.requestBytes=N}, bench/profile).
   */
  private static final long READ_AHEAD_REQUEST = Long.getLong("modelcache.readAhead.requestBytes", 0L);

  private final Map<String, BlobHandle> files;
  private final ChunkCache cache;
  private final Digest manifest;
  private final ReadAheadOptions opts;
  private final ExecutorService pool;
  /**
   * Loads headers: one thread per safetensors file up to {@link #HEADER_THREADS}, so the time to
   * every header is one fetch whatever the shard count (within the registry connection limit).
   */
  private final ExecutorService headerPool;
  private final ConcurrentHashMap<String, CompletableFuture<SafetensorsHeader>> headers = new ConcurrentHashMap<>();
  private final Map<String, AtomicLongArray> touched = new ConcurrentHashMap<>();
  private final List<AccessProfile.Entry> firstTouches = new ArrayList<>();
  private final AccessProfile loadedProfile;
  private final boolean recording;
  private volatile CompletableFuture<ReadPlan> plan;
  private volatile Thread driver;
  private volatile boolean closed;
  private volatile String fillState = "idle";
  /** What this mount does with its learned profile; see {@link #profileState()}. */
  private volatile String profileState;
  /** When a reader last read (System.nanoTime); fill yields to it. */
  private volatile long lastRead = System.nanoTime() - FILL_YIELD_NANOS;
  private final Object planLock = new Object();
  private SequentialDetector planDetector;
  private ReadPlan planDetectorPlan;

  /**
   * @param files the mount's files by relative path, with their (open) cache handles
   * @param manifest the mount's pinned manifest digest (the key of its learned profile)
   */
  public MountPrefetcher(Map<String, BlobHandle> files, ChunkCache cache, Digest manifest, ReadAheadOptions opts) {
    this.files = Map.copyOf(files);
    this.cache = cache;
    this.manifest = manifest;
    this.opts = opts;
    ThreadPoolExecutor p = new ThreadPoolExecutor(4, 4, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "modelcache-readahead-" + THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    p.allowCoreThreadTimeOut(true);
    this.pool = p;
    int shards = (int) Math.max(1, files.keySet().stream().filter(ReadPlanner::isSafetensors).count());
    int hn = Math.min(HEADER_THREADS, shards);
    ThreadPoolExecutor hp = new ThreadPoolExecutor(hn, hn, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "modelcache-header-" + THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    hp.allowCoreThreadTimeOut(true);
    this.headerPool = hp;
    AccessProfile prof = null;
    if (opts.profileDir() != null) {
      Path f = AccessProfile.pathFor(opts.profileDir(), manifest);
      if (Files.exists(f)) {
        try {
          prof = AccessProfile.read(f);
        } catch (IOException e) {
          LOG.warn("ignoring access profile {}: {}", f, e.getMessage());
        }
      }
    }
    this.loadedProfile = prof;
    this.recording = opts.profileDir() != null && prof == null;
    this.profileState = recording ? "recording" : prof == null ? "off" : opts.prefetch() ? "loaded" : "unused";
  }

  /**
   * Starts fetching every shard's header (loaders read all headers first, so they are local by the
   * time the loader opens the files), and the driver thread when there is a profile to replay or a
   * fill to run.
   */
  public void start() {
    if (opts.prefetch()) {
      plan();
    }
    boolean replay = loadedProfile != null && opts.prefetch();
    if (!replay && !opts.backgroundFill()) {
      return;
    }
    Thread t = new Thread(this::drive, "modelcache-fill-" + THREADS.incrementAndGet());
    t.setDaemon(true);
    driver = t;
    t.start();
  }

  /**
   * Starts fetching every shard's header now, before the mount goes live (read-ahead on), so the
   * headers are local or on their way when the mount command returns; the fill still waits for
   * {@link #start}. Idempotent. Returns the plan being built (done once every header is in), or null
   * when read-ahead is off.
   */
  public CompletableFuture<ReadPlan> fetchHeaders() {
    return opts.prefetch() ? plan() : null;
  }

  /** The plan, once every shard's header is in (null before). */
  public ReadPlan planNow() {
    CompletableFuture<ReadPlan> p = plan;
    return p != null && p.isDone() && !p.isCompletedExceptionally() ? p.join() : null;
  }

  /** Starts building the plan (idempotent): the shard index and every safetensors header. */
  public CompletableFuture<ReadPlan> plan() {
    CompletableFuture<ReadPlan> p = plan;
    if (p != null) {
      return p;
    }
    synchronized (this) {
      if (plan == null) {
        plan = buildPlan();
      }
      return plan;
    }
  }

  /**
   * What this mount does with a learned profile: {@code recording} (none existed at mount: it learns
   * one), {@code loaded} (found, replay not started yet), {@code replaying}, {@code replayed} (every
   * replay request finished), {@code stopped} (unmounted or failed mid-replay), {@code unused}
   * (found, but prefetch is off), {@code off} (no profile directory).
   */
  public String profileState() {
    return profileState;
  }

  /** What the fill is doing: idle, replaying, filling, done, budget, failed, closed. */
  public String fillState() {
    return fillState;
  }

  private CompletableFuture<ReadPlan> buildPlan() {
    List<CompletableFuture<SafetensorsHeader>> all = new ArrayList<>();
    List<String> paths = new ArrayList<>(files.keySet());
    paths.sort(null);
    for (String path : paths) {
      if (ReadPlanner.isSafetensors(path)) {
        all.add(header(path));
      }
    }
    CompletableFuture<Map<String, String>> index;
    try {
      index = CompletableFuture.supplyAsync(this::weightMap, pool);
    } catch (java.util.concurrent.RejectedExecutionException closedPool) {
      index = CompletableFuture.completedFuture(Map.of());
    }
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenCombine(index, (v, wm) -> {
      List<ReadPlanner.FileInfo> infos = new ArrayList<>();
      for (String path : paths) {
        BlobHandle h = files.get(path);
        SafetensorsHeader hd = ReadPlanner.isSafetensors(path) ? header(path).join() : null;
        infos.add(new ReadPlanner.FileInfo(path, h.spec().contentLength(), hd));
      }
      return ReadPlanner.plan(infos, wm);
    });
  }

  /** The header of a safetensors file, fetched once; completes with null when it is malformed. */
  public CompletableFuture<SafetensorsHeader> header(String path) {
    return headers.computeIfAbsent(path, p -> {
      try {
        return CompletableFuture.supplyAsync(() -> loadHeader(p), headerPool);
      } catch (java.util.concurrent.RejectedExecutionException closedPool) {
        return CompletableFuture.completedFuture(null);
      }
    });
  }

  private SafetensorsHeader loadHeader(String path) {
    BlobHandle h = files.get(path);
    long size = h.spec().contentLength();
    try {
      ByteBuffer first = ByteBuffer.allocate(8);
      if (size < 8 || h.read(0, first) < 8) {
        return null;
      }
      long n = SafetensorsHeader.readHeaderLength(first.array());
      if (n < 0 || n >= SafetensorsHeader.MAX_HEADER || 8 + n > size) {
        LOG.info("{}: header length {} is not valid; serving it as plain bytes", path, Long.toUnsignedString(n));
        return null;
      }
      ByteBuffer all = ByteBuffer.allocate((int) (8 + n));
      while (all.hasRemaining()) {
        if (h.read(all.position(), all) <= 0) {
          return null;
        }
      }
      return SafetensorsHeader.parse(all.flip(), size);
    } catch (SafetensorsFormatException e) {
      LOG.info("{}: malformed safetensors header ({}); serving it as plain bytes", path, e.getMessage());
      return null;
    } catch (IOException | RuntimeException e) {
      if (tornDown(e)) {
        return null; // the mount is being torn down (it failed or was unmounted): nothing to plan for
      }
      LOG.info("{}: cannot read the safetensors header ({}); read-ahead falls back to file order", path, e.toString());
      return null;
    }
  }

  /**
   * A read that failed because the mount is being closed (a mount that failed, or an unmount): closed
   * first, then an interrupted read (not a socket timeout) or a closed handle. Not worth a line.
   */
  private boolean tornDown(Exception e) {
    return closed || (e instanceof java.io.InterruptedIOException && !(e instanceof java.net.SocketTimeoutException));
  }

  private Map<String, String> weightMap() {
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, BlobHandle> e : files.entrySet()) {
      long size = e.getValue().spec().contentLength();
      if (!ReadPlanner.isShardIndex(e.getKey()) || size > MAX_INDEX) {
        continue;
      }
      try {
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && e.getValue().read(b.position(), b) > 0) {
          // read it all
        }
        out.putAll(ReadPlanner.parseIndex(b.array()));
      } catch (IOException | RuntimeException ex) {
        if (tornDown(ex)) {
          return out;
        }
        LOG.info("{}: cannot read the shard index ({})", e.getKey(), ex.toString());
      }
    }
    return out;
  }

  /** A reader opened {@code path}: fetch its header now (safetensors) and track its reads. */
  public Tracker open(String path) {
    if (!closed && ReadPlanner.isSafetensors(path) && (opts.prefetch() || opts.backgroundFill())) {
      header(path);
      plan();
    }
    return new Tracker(path);
  }

  /**
   * Read-ahead state of one open file. Thread-safe. Files with a parsed header share one detector
   * in plan coordinates for the whole mount: a loader that walks the plan is one stream across
   * shards, so opening the next shard continues the window instead of ramping it up again. Reads
   * of a header are left out (headers are fetched at open, and the loader's jump back to each
   * shard's header must not look like random access).
   */
  public final class Tracker {
    private final String path;
    private final BlobHandle handle;
    /** A path with a line break cannot be written to the line-based profile file. */
    private final boolean recordable;
    private SequentialDetector detector;

    Tracker(String path) {
      this.path = path;
      this.handle = files.get(path);
      this.recordable = recording && path.indexOf('\n') < 0 && path.indexOf('\r') < 0;
    }

    /** Called before each read: records first touches and queues read-ahead. Never blocks. */
    public void onRead(long offset, int length) {
      if (closed || handle == null || length <= 0) {
        return;
      }
      if (recordable) {
        record(path, handle, offset, length);
      }
      if (opts.backgroundFill()) {
        lastRead = System.nanoTime();
      }
      if (!opts.prefetch()) {
        return;
      }
      ReadPlan p = planNow();
      boolean planned = p != null && p.tensorLevel(path);
      SequentialDetector.Decision d;
      if (planned) {
        CompletableFuture<SafetensorsHeader> hf = headers.get(path);
        SafetensorsHeader h = hf == null ? null : hf.getNow(null);
        if (h != null && offset < h.dataStart()) {
          return;
        }
        long pos = p.position(path, offset);
        if (pos < 0) {
          return;
        }
        synchronized (planLock) {
          if (planDetector == null || planDetectorPlan != p) {
            planDetector = newDetector();
            planDetectorPlan = p;
          }
          d = planDetector.onRead(pos, length);
        }
        if (d != null) {
          for (ReadPlan.Segment s : p.range(d.from(), d.to())) {
            issue(files.get(s.path()), s.begin(), s.length(), FetchPriority.READ_AHEAD);
          }
        }
        return;
      }
      synchronized (this) {
        if (detector == null) {
          detector = newDetector();
        }
        d = detector.onRead(offset, length);
      }
      if (d != null) {
        issue(handle, d.from(), d.length(), FetchPriority.READ_AHEAD);
      }
    }

    private SequentialDetector newDetector() {
      long chunk = handle.chunkSize();
      // A window near the budget would evict read-ahead before it is read: keep it to a quarter.
      long max = Math.max(chunk, Math.min(opts.maxWindow(), cache.budgetBytes() / 4));
      long initial = opts.initialWindow() > 0 ? opts.initialWindow() : 2 * chunk;
      return new SequentialDetector(Math.min(initial, max), max, Math.max(chunk, 1 << 20));
    }
  }

  private void issue(BlobHandle h, long off, long len, FetchPriority prio) {
    if (h == null || off >= h.spec().contentLength()) {
      return;
    }
    long piece = Math.max(h.chunkSize(), READ_AHEAD_REQUEST > 0 ? READ_AHEAD_REQUEST : opts.maxWindow());
    for (long at = off; at < off + len; at += piece) {
      BlobHandle.Prefetch pf = h.prefetch(at, Math.min(piece, off + len - at), prio);
      if (pf.claimedBytes() > 0) {
        opts.observer().issued(pf.claimedBytes());
      }
    }
  }

  private void record(String path, BlobHandle h, long offset, int length) {
    int cs = h.chunkSize();
    long size = h.spec().contentLength();
    if (offset >= size) {
      return;
    }
    AtomicLongArray bits = touched.computeIfAbsent(path, k -> new AtomicLongArray((int) ((size / cs + 64) >>> 6)));
    int first = (int) (offset / cs);
    int last = (int) ((Math.min(size, offset + length) - 1) / cs);
    for (int i = first; i <= last; i++) {
      long bit = 1L << i;
      if ((bits.get(i >>> 6) & bit) != 0) {
        continue;
      }
      if ((bits.getAndUpdate(i >>> 6, v -> v | bit) & bit) == 0) {
        synchronized (firstTouches) {
          if (firstTouches.size() < MAX_PROFILE_ENTRIES) {
            firstTouches.add(new AccessProfile.Entry(path, i));
          }
        }
      }
    }
  }

  /**
   * This mount's profile: the one it learned so far when recording, else the one it loaded at mount
   * (null when it has neither).
   */
  public AccessProfile profile() {
    return recording ? learnedProfile() : loadedProfile;
  }

  /** The profile learned so far on this mount (first-touch order), or null when not recording. */
  public AccessProfile learnedProfile() {
    if (!recording || files.isEmpty()) {
      return null;
    }
    int cs = files.values().iterator().next().chunkSize();
    synchronized (firstTouches) {
      return new AccessProfile(manifest, cs, firstTouches);
    }
  }

  // ---------------------------------------------------------------- profile replay and fill

  private void drive() {
    try {
      if (loadedProfile != null && opts.prefetch()) {
        fillState = "replaying";
        profileState = "replaying";
        // Profile ranges are byte ranges: valid whatever this cache's chunk size is.
        if (!run(loadedProfile.ranges(opts.fillRequestBytes()), FetchPriority.READ_AHEAD, false)) {
          profileState = "stopped";
          return;
        }
        profileState = "replayed";
      }
      if (opts.backgroundFill()) {
        fillState = "filling";
        ReadPlan p = plan().get();
        if (run(p.requests(opts.fillRequestBytes()), FetchPriority.FILL, true)) {
          fillState = "done";
        }
      } else {
        fillState = "done";
      }
    } catch (InterruptedException e) {
      fillState = "closed";
      stopReplay();
    } catch (Exception e) {
      fillState = "failed";
      stopReplay();
      LOG.warn("background fill of {} stopped: {}", manifest, e.toString());
    }
  }

  private void stopReplay() {
    if (profileState.equals("replaying")) {
      profileState = "stopped";
    }
  }

  /** Issues requests in order, {@code fillConnections} at a time; false if it stopped early. */
  private boolean run(List<ReadPlan.Segment> reqs, FetchPriority prio, boolean budgeted) throws InterruptedException {
    int conns = opts.fillConnections();
    Semaphore slots = new Semaphore(conns);
    AtomicInteger failures = new AtomicInteger();
    java.util.concurrent.atomic.AtomicLong inFlight = new java.util.concurrent.atomic.AtomicLong();
    try {
      for (ReadPlan.Segment r : reqs) {
        if (closed) {
          fillState = "closed";
          return false;
        }
        BlobHandle h = files.get(r.path());
        if (h == null || h.isCached(r.begin(), r.length())) {
          continue;
        }
        if (budgeted && cache.usedBytes() + inFlight.get() + r.length() > opts.fillBudgetFraction() * cache.budgetBytes()) {
          fillState = "budget";
          LOG.info("background fill of {} stopped at {}% of the cache budget", manifest,
              Math.round(opts.fillBudgetFraction() * 100));
          return false;
        }
        if (failures.get() >= MAX_FILL_FAILURES) {
          fillState = "failed";
          LOG.warn("background fill of {} stopped after {} failed requests", manifest, failures.get());
          return false;
        }
        if (prio == FetchPriority.FILL) {
          // Yield to a streaming reader (bounded: a request a second still goes out).
          for (int i = 0; i < 50 && !closed && System.nanoTime() - lastRead < FILL_YIELD_NANOS; i++) {
            Thread.sleep(20);
          }
        }
        slots.acquire();
        BlobHandle.Prefetch pf = h.prefetch(r.begin(), r.length(), prio);
        if (pf.claimedBytes() == 0) {
          slots.release();
          continue;
        }
        opts.observer().issued(pf.claimedBytes());
        inFlight.addAndGet(pf.claimedBytes());
        pf.done().whenComplete((v, e) -> {
          inFlight.addAndGet(-pf.claimedBytes());
          if (e != null) {
            failures.incrementAndGet();
          } else {
            failures.set(0);
          }
          slots.release();
        });
      }
      slots.acquire(conns);
      slots.release(conns);
      return !closed;
    } finally {
      if (closed) {
        fillState = "closed";
      }
    }
  }

  /**
   * Stops read-ahead and fill; saves a newly learned profile unless one appeared meanwhile (imported
   * by the operator while this mount was recording: theirs wins).
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Thread t = driver;
    if (t != null) {
      t.interrupt();
      try {
        t.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    pool.shutdownNow();
    headerPool.shutdownNow();
    AccessProfile learned = learnedProfile();
    if (learned != null && !learned.entries().isEmpty()) {
      Path f = AccessProfile.pathFor(opts.profileDir(), manifest);
      try {
        if (Files.exists(f)) {
          LOG.info("keeping the access profile {} that appeared while {} was mounted", f, manifest);
          return;
        }
        learned.write(f);
      } catch (IOException e) {
        LOG.warn("cannot save access profile {}: {}", f, e.toString());
      }
    }
  }
}
