package io.modelcache.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a new mount's headers through the mount itself, through the kernel, before the mount command
 * answers.
 *
 * <p><b>Why.</b> Once the headers are in the cache, what a loader still waited for after the mount
 * returned was the first trip through a fresh mount: the listing of its directory, the kernel's
 * lookups of each path, the daemon's first opens and reads (code paths run for the first time in a
 * fresh JVM: 13–32 ms for the first open and 8–25 ms for the first read, docs/performance.md). Reading the same bytes here pays that once, in parallel,
 * inside the mount command; the kernel keeps the entries and, since the daemon opens files with
 * FOPEN_KEEP_CACHE once a blob is complete, the pages of complete files. It is also an end to end
 * check that the mount serves. These reads do not count as a reader's ({@code ModelMount.warming}).
 *
 * <p>Bounded: it gives up after {@code max} (a read still running finishes on its own thread), and a
 * failure is only logged; the loader's reads then go to the daemon as they would have.
 *
 * <p>Threading: called on the control API's thread; reads on short-lived daemon threads.
 */
final class MountWarmup {
  private static final Logger LOG = LoggerFactory.getLogger(MountWarmup.class);
  /** Off with {@code -Dmodelcache.mount.warmup=false} (for measuring what it buys). */
  static final boolean ENABLED = !"false".equals(System.getProperty("modelcache.mount.warmup"));
  private static final int THREADS = 8;
  private static final AtomicInteger SEQ = new AtomicInteger();

  private MountWarmup() {}

  /** Reads {@code [0, length)} of each path under {@code mountpoint}; returns whether all were read in time. */
  static boolean readHeads(Path mountpoint, Map<String, Long> heads, Duration max) {
    if (heads.isEmpty()) {
      return true;
    }
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(THREADS, heads.size()), r -> {
      Thread t = new Thread(r, "modelcache-warmup-" + SEQ.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    try {
      List<Future<?>> reads = new ArrayList<>();
      reads.add(pool.submit(() -> {
        try (var listing = java.nio.file.Files.list(mountpoint)) { // a loader lists the directory first
          return listing.count();
        }
      }));
      for (Map.Entry<String, Long> e : heads.entrySet()) {
        Path file = mountpoint.resolve(e.getKey());
        long length = e.getValue();
        reads.add(pool.submit(() -> {
          readPrefix(file, length);
          return null;
        }));
      }
      long deadline = System.nanoTime() + max.toNanos();
      for (Future<?> f : reads) {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      }
      return true;
    } catch (java.util.concurrent.TimeoutException e) {
      LOG.debug("{}: headers not read through the mount within {} ms; answering anyway", mountpoint, max.toMillis());
      return false;
    } catch (java.util.concurrent.ExecutionException e) {
      LOG.debug("{}: reading headers through the mount failed: {}", mountpoint, e.getCause().toString());
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } finally {
      pool.shutdown();
    }
  }

  private static void readPrefix(Path file, long length) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
      long pos = 0;
      while (pos < length) {
        buf.clear().limit((int) Math.min(buf.capacity(), length - pos));
        int n = ch.read(buf, pos);
        if (n < 0) {
          return;
        }
        pos += n;
      }
    }
  }
}
