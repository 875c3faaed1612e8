package io.modelcache.fetch;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.FetchPriority;
import io.modelcache.oci.Digest;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mount's driver thread: it replays a learned {@link AccessProfile} (at READ_AHEAD priority), then
 * runs the background fill that brings the rest of the model in, in plan order, at the lowest
 * priority. Requests go out {@code fillConnections} at a time. The fill stops at its share of the
 * cache budget, after {@link #MAX_FILL_FAILURES} failed requests in a row, or when the mount closes,
 * and yields to a streaming reader: what fill brings in goes to disk only, so fetching it under a
 * reader costs CPU now and a disk read later.
 *
 * <p>Thread-safe: {@link #onRead()} is called from readers' threads, the states are read by status
 * requests, and {@link #close()} interrupts the driver (fetches already queued finish or fail on
 * their own).
 */
final class BackgroundFill {
  /** The lines keep the logger they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(MountPrefetcher.class);
  private static final int MAX_FILL_FAILURES = 3;
  /**
   * Fill waits while a reader read within this long: the reader's own read-ahead keeps the link busy,
   * and what fill brings in goes to disk only (not the memory tier), so fetching it under a
   * streaming reader costs CPU now and a disk read later.
   */
  private static final long FILL_YIELD_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
  /** The longest a held fill waits for its mount command's answer (the header wait and warm-up, with margin). */
  private static final long ANSWER_WAIT_MILLIS = 15_000;

  private final Map<String, BlobHandle> files;
  private final ChunkCache cache;
  private final Digest manifest;
  private final ReadAheadOptions opts;
  private final AccessProfile loadedProfile;
  private final PlanLoader plans;
  private final BooleanSupplier closed;
  private volatile Thread driver;
  private volatile String fillState = "idle";
  /** What this mount does with its learned profile; see {@link MountPrefetcher#profileState()}. */
  private volatile String profileState;
  /** When a reader last read (System.nanoTime); fill yields to it. */
  private volatile long lastRead = System.nanoTime() - FILL_YIELD_NANOS;
  /** Set before {@link #start}: the fill phase waits for {@link #answered}. */
  private volatile boolean holdForAnswer;
  private final CountDownLatch answered = new CountDownLatch(1);

  /**
   * @param loadedProfile the profile found at mount (null when there is none)
   * @param profileState what the mount does with its profile before the driver starts
   * @param closed whether the mount is being closed
   */
  BackgroundFill(Map<String, BlobHandle> files, ChunkCache cache, Digest manifest, ReadAheadOptions opts,
      AccessProfile loadedProfile, String profileState, PlanLoader plans, BooleanSupplier closed) {
    this.files = files;
    this.cache = cache;
    this.manifest = manifest;
    this.opts = opts;
    this.loadedProfile = loadedProfile;
    this.profileState = profileState;
    this.plans = plans;
    this.closed = closed;
  }

  /** Starts the driver thread when there is a profile to replay or a fill to run. */
  void start() {
    boolean replay = loadedProfile != null && opts.prefetch();
    if (!replay && !opts.backgroundFill()) {
      return;
    }
    Thread t = new Thread(this::drive, "modelcache-fill-" + MountPrefetcher.THREADS.incrementAndGet());
    t.setDaemon(true);
    driver = t;
    t.start();
  }

  /**
   * The fill phase (not a profile replay) waits until the mount command has answered, and then
   * for the reader quiet a streaming reader gets: a loader opens every shard and reads its header
   * right after the mount returns, and on a small machine the fill's first requests would take the
   * CPU from those reads. Call before {@link #start}.
   */
  void holdUntilAnswered() {
    holdForAnswer = true;
  }

  /** The mount command answered: a loader's first reads come now, so the fill yields as to a reader. */
  void answered() {
    lastRead = System.nanoTime();
    answered.countDown();
  }

  /** A reader read just now: the fill yields to it for a while. */
  void onRead() {
    lastRead = System.nanoTime();
  }

  String profileState() {
    return profileState;
  }

  String fillState() {
    return fillState;
  }

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
        if (holdForAnswer && !answered.await(ANSWER_WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
          LOG.debug("fill of {}: no answer from the mount after {} ms; filling anyway", manifest, ANSWER_WAIT_MILLIS);
        }
        fillState = "filling";
        ReadPlan p = plans.plan().get();
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
        if (closed.getAsBoolean()) {
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
          for (int i = 0; i < 50 && !closed.getAsBoolean() && System.nanoTime() - lastRead < FILL_YIELD_NANOS; i++) {
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
      return !closed.getAsBoolean();
    } finally {
      if (closed.getAsBoolean()) {
        fillState = "closed";
      }
    }
  }

  /** Interrupts the driver and waits for it (5 s at the most). */
  void close() {
    Thread t = driver;
    if (t != null) {
      t.interrupt();
      try {
        t.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
