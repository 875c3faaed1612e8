package io.modelcache.fetch;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.FetchPriority;
import io.modelcache.oci.Digest;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything one mount fetches ahead of its readers: the model's {@link ReadPlan} (built from the
 * safetensors headers, fetched as soon as a shard is opened: {@link PlanLoader}), read-ahead that
 * follows each open file in plan order ({@link Tracker}), replay of a learned {@link AccessProfile},
 * recording of a new one ({@link ProfileRecorder}), and the background fill that brings the rest of
 * the model in at the lowest priority ({@link BackgroundFill}).
 *
 * <p>Threading: {@link Tracker#onRead} runs on the reader's (FUSE) thread and never blocks: it only
 * claims chunks and queues fetches with the cache's scheduler. Headers are loaded on their own pool
 * (one thread per shard, up to {@link #HEADER_THREADS}), from {@link #fetchHeaders} at mount on;
 * the profile replay and fill run on one driver thread. {@link #close()} stops both (fetches already
 * queued finish or fail on their own) and saves a newly learned profile.
 */
public final class MountPrefetcher implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(MountPrefetcher.class);
  /** Numbers the threads of every mount's pools and drivers. */
  static final AtomicInteger THREADS = new AtomicInteger();
  static final int HEADER_THREADS = 8;
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
  private final PlanLoader plans;
  private final ProfileRecorder recorder = new ProfileRecorder();
  private final BackgroundFill fill;
  private final AccessProfile loadedProfile;
  private final boolean recording;
  private volatile boolean closed;
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
    this.plans = new PlanLoader(this.files, () -> closed);
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
    String profileState = recording ? "recording" : prof == null ? "off" : opts.prefetch() ? "loaded" : "unused";
    this.fill = new BackgroundFill(this.files, cache, manifest, opts, prof, profileState, plans, () -> closed);
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
    fill.start();
  }

  /** The fill waits for {@link #answered} (see {@link BackgroundFill#holdUntilAnswered}); call before {@link #start}. */
  public void holdFillUntilAnswered() {
    fill.holdUntilAnswered();
  }

  /** The mount command answered: a held fill goes on once the loader's first reads have had the CPU. */
  public void answered() {
    fill.answered();
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
    return plans.planNow();
  }

  /** Starts building the plan (idempotent): the shard index and every safetensors header. */
  public CompletableFuture<ReadPlan> plan() {
    return plans.plan();
  }

  /**
   * What this mount does with a learned profile: {@code recording} (none existed at mount: it learns
   * one), {@code loaded} (found, replay not started yet), {@code replaying}, {@code replayed} (every
   * replay request finished), {@code stopped} (unmounted or failed mid-replay), {@code unused}
   * (found, but prefetch is off), {@code off} (no profile directory).
   */
  public String profileState() {
    return fill.profileState();
  }

  /** What the fill is doing: idle, replaying, filling, done, budget, failed, closed. */
  public String fillState() {
    return fill.fillState();
  }

  /** The header of a safetensors file, fetched once; completes with null when it is malformed. */
  public CompletableFuture<SafetensorsHeader> header(String path) {
    return plans.header(path);
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
        recorder.record(path, handle, offset, length);
      }
      if (opts.backgroundFill()) {
        fill.onRead();
      }
      if (!opts.prefetch()) {
        return;
      }
      ReadPlan p = planNow();
      boolean planned = p != null && p.tensorLevel(path);
      SequentialDetector.Decision d;
      if (planned) {
        SafetensorsHeader h = plans.headerNow(path);
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
    return recorder.profile(manifest, files.values().iterator().next().chunkSize());
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
    fill.close();
    plans.close();
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
