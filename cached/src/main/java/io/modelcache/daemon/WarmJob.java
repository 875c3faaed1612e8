package io.modelcache.daemon;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.VerifyResult;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.function.LongSupplier;

/**
 * One "warm" request: reads every byte of a model's files through cache handles, so the node cache
 * holds the whole model, then waits for (or runs) each blob's verification. Runs on its own threads;
 * {@link #progress()} may be called from any thread. Reads go in large slices so the cache coalesces
 * each into one ranged upstream request; fully cached files are not read again.
 */
final class WarmJob {
  enum State { RUNNING, DONE, FAILED }

  /** A file to warm: its path in the model and the handle that serves it. */
  record Target(String path, long size, BlobHandle handle) {}

  static final int SLICE = 8 << 20;
  private static final long VERIFY_WAIT_NANOS = 2_000_000_000L;
  /** Bytes per second that any disk and CPU hash faster than: bounds the wait for verification. */
  private static final long MIN_HASH_RATE = 50L << 20;

  final long id;
  final String reference;
  final String digest;
  final String mountpoint;
  private final List<Target> targets;
  private final ChunkCache cache;
  private final RateWindow rate;
  private final LongSupplier nanos;
  private final Runnable release;
  private final long started;
  private volatile long finished = -1;
  private volatile State state = State.RUNNING;
  private volatile ModelCacheException error;
  private volatile long finalCached = -1;

  /**
   * @param mountpoint the mount whose handles are used, or null for a model warmed without a mount
   * @param rate where this job's upstream bytes are counted (the mount's window for a mount)
   * @param release run once when the job ends (closes handles and source of an unmounted model)
   */
  WarmJob(long id, String reference, String digest, String mountpoint, List<Target> targets, ChunkCache cache,
      RateWindow rate, LongSupplier nanos, Runnable release) {
    this.id = id;
    this.reference = reference;
    this.digest = digest;
    this.mountpoint = mountpoint;
    this.targets = List.copyOf(targets);
    this.cache = cache;
    this.rate = rate;
    this.nanos = nanos;
    this.release = release;
    this.started = nanos.getAsLong();
  }

  State state() {
    return state;
  }

  List<Target> targets() {
    return targets;
  }

  long totalBytes() {
    long t = 0;
    for (Target x : targets) {
      t += x.size();
    }
    return t;
  }

  long cachedBytes() {
    long done = finalCached;
    if (done >= 0) {
      return done;
    }
    long c = 0;
    for (Target x : targets) {
      c += Math.min(x.size(), x.handle().cachedBytes());
    }
    return c;
  }

  /** Starts {@code parallel} reader threads and a finisher; returns at once. */
  void start(int parallel) {
    ConcurrentLinkedQueue<long[]> slices = new ConcurrentLinkedQueue<>();
    for (int t = 0; t < targets.size(); t++) {
      Target x = targets.get(t);
      if (x.handle().cachedBytes() >= x.size()) {
        continue;
      }
      for (long off = 0; off < x.size(); off += SLICE) {
        slices.add(new long[] {t, off});
      }
    }
    int n = Math.max(1, Math.min(parallel, slices.size()));
    CountDownLatch readers = new CountDownLatch(n);
    for (int i = 0; i < n; i++) {
      Thread.ofVirtual().name("warm-" + id + "-" + i).start(() -> {
        try {
          readSlices(slices);
        } finally {
          readers.countDown();
        }
      });
    }
    Thread.ofVirtual().name("warm-" + id).start(() -> {
      try {
        readers.await();
        if (error == null) {
          verifyAll();
        }
      } catch (InterruptedException e) {
        fail(new ModelCacheException(Kind.IO, "warming " + reference + " was interrupted"));
      } catch (IOException | RuntimeException e) {
        fail(wrap("", e));
      } finally {
        finalCached = cachedBytes();
        try {
          release.run(); // before the state flips: a client that saw DONE may evict at once
        } catch (RuntimeException e) {
          fail(wrap("releasing: ", e));
        }
        finished = nanos.getAsLong();
        state = error == null ? State.DONE : State.FAILED;
      }
    });
  }

  private void readSlices(ConcurrentLinkedQueue<long[]> slices) {
    ByteBuffer buf = ByteBuffer.allocateDirect(SLICE);
    long[] s;
    while (error == null && (s = slices.poll()) != null) {
      Target x = targets.get((int) s[0]);
      try {
        long off = s[1];
        long end = Math.min(x.size(), off + SLICE);
        while (off < end && error == null) {
          buf.clear().limit((int) (end - off));
          int r = x.handle().read(off, buf);
          if (r <= 0) {
            throw new IOException("unexpected end of file at offset " + off);
          }
          off += r;
        }
      } catch (IOException | RuntimeException e) {
        fail(wrap(x.path() + ": ", e));
      }
    }
  }

  /**
   * Waits for the cache's own verification of each blob (it hashes a blob once its last chunk
   * lands), bounded by a hashing rate well below a disk's; a blob that failed shows up at once as a
   * failing read. Blobs still unverified at the bound (compressed layers, or a verification that could
   * not run) are verified here.
   */
  private void verifyAll() throws IOException, InterruptedException {
    ByteBuffer probe = ByteBuffer.allocate(1);
    for (Target x : targets) {
      long deadline = nanos.getAsLong() + VERIFY_WAIT_NANOS + x.size() * 1_000_000_000L / MIN_HASH_RATE;
      for (int i = 0; !x.handle().isComplete() && nanos.getAsLong() < deadline; i++) {
        if (i % 5 == 0 && x.size() > 0) {
          probe.clear();
          try {
            x.handle().read(0, probe);
          } catch (IOException e) {
            throw wrap(x.path() + ": ", e);
          }
        }
        Thread.sleep(20);
      }
      if (x.handle().isComplete()) {
        continue;
      }
      VerifyResult v = cache.verify(x.handle().spec().key());
      if (v.status() == VerifyResult.Status.FAILED) {
        throw new ModelCacheException(Kind.DIGEST_MISMATCH, x.path() + ": " + v.detail());
      }
      if (!v.ok()) {
        throw new ModelCacheException(Kind.IO, x.path() + ": did not stay cached (" + v.detail()
            + "); is the cache budget smaller than the model?");
      }
    }
  }

  private ModelCacheException wrap(String prefix, Throwable e) {
    Kind kind = e instanceof ModelCacheException m ? m.kind() : Kind.IO;
    String msg = e.getMessage() == null ? e.toString() : e.getMessage();
    return new ModelCacheException(kind, prefix + msg, e);
  }

  private synchronized void fail(ModelCacheException e) {
    if (error == null) {
      error = e;
    }
  }

  ObjectNode progress() {
    ObjectNode o = JsonNodeFactory.instance.objectNode()
        .put("job", id)
        .put("reference", reference)
        .put("digest", digest);
    if (mountpoint != null) {
      o.put("mountpoint", mountpoint);
    }
    State st = state;
    long end = st == State.RUNNING ? nanos.getAsLong() : finished;
    o.put("state", st.name())
        .put("files", targets.size())
        .put("totalBytes", totalBytes())
        .put("cachedBytes", cachedBytes())
        .put("rateBytesPerSec", st == State.RUNNING ? Math.round(rate.perSecond()) : 0)
        .put("elapsedSeconds", (end - started) / 1e9);
    ModelCacheException e = error;
    if (st == State.FAILED && e != null) {
      o.put("error", "warming " + reference + " failed: " + e.getMessage()).put("kind", e.kind().name());
    }
    return o;
  }

  /** Keys this job holds open (so gc keeps them). */
  List<String> keys() {
    List<String> out = new ArrayList<>();
    for (Target x : targets) {
      out.add(x.handle().spec().key());
    }
    return out;
  }
}
