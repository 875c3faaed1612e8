package io.modelcache.cache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bytes at rest: chunks read back from their cache files and matched against the CRC32C recorded
 * when they were written.
 *
 * <p><b>Why a chunk is read back before the kernel may serve it.</b> A chunk's bytes passed sha256
 * (the layer digest or the chunk index) before they were written, and its CRC32C was taken from
 * the same memory. After that the cache file is only a file: a disk error, a stray write or a
 * restored backup changes it, and nothing on the way notices. So this process vouches for a chunk
 * ({@link Blob#checked}) only once it wrote the chunk itself or read it back and it matched:
 * <ul>
 *   <li>every read of a whole chunk from disk into memory ({@link DiskLoads}) checks it, so the
 *       daemon path never serves damage it read there;
 *   <li>passthrough (the kernel reads the file and the daemon sees no read) is handed out only for
 *       a blob every chunk of which this process vouches for. After a restart, the first open of a
 *       cached file is served by the daemon (which checks each chunk as it loads it), and that open
 *       queues a read-back of the mount's files in the background ({@link #checkInBackground},
 *       one blob at a time, O_DIRECT, while no reader loads chunks from disk); later opens of a
 *       file read back or read whole get
 *       passthrough. Why not wait at the open for a read-back and then hand out passthrough: see
 *       docs/performance.md, "After a restart" (measured three ways, the daemon path was faster);
 *   <li>a damaged chunk is dropped even under readers ({@link Eviction#dropDamaged}), counted in
 *       {@code corruptChunks}, and fetched again; a read that overlapped it sees the chunk's
 *       generation ({@link Blob#gen}) change and reads again. Only the copy a check read is
 *       dropped: a check that ran late never drops the copy fetched since;
 *   <li>a file the kernel kept in passthrough across a restart is read back first, and its damaged
 *       chunks are fetched at once (the kernel never asks the daemon for them);
 *   <li>a whole-blob hash after a refetch reads the unchecked chunks back first
 *       ({@link Verifier#verifyRaw}), so damage elsewhere costs a chunk, not the blob.
 * </ul>
 * What stays unchecked: a file changed under a running daemon after its chunks were vouched for
 * (the daemon's re-reads through the page cache, and passthrough). {@code cache verify}, which the
 * shipped timer runs weekly, finds that.
 *
 * <p>CRC32C rather than sha256: this finds damage, not an attacker (whoever can write the cache
 * file can write the index next to it), and it runs at memory speed on the CPU's CRC instruction.
 *
 * <p>Threading: {@link #check} on any thread (it pins each chunk while reading it); the background
 * read-backs run on the cache's executor, one at a time for the whole cache.
 */
final class AtRest {
  private static final Logger LOG = LoggerFactory.getLogger(AtRest.class);
  private final ChunkCache cache;
  private final Executor executor;
  private final ConcurrentLinkedDeque<Blob> queue = new ConcurrentLinkedDeque<>();
  private final AtomicBoolean running = new AtomicBoolean();

  AtRest(ChunkCache cache) {
    this.cache = cache;
    this.executor = cache.executor;
  }

  /**
   * Queues a read-back of {@code b}'s unchecked chunks, unless one is queued or running.
   * {@code first}: ahead of the others, for a file the kernel reads in passthrough already (kept
   * open across a restart), which is served unchecked until its read-back is done.
   */
  void checkInBackground(Blob b, boolean first) {
    if (cache.closed || b.allChecked()) {
      return;
    }
    if (b.checking.compareAndSet(false, true)) {
      if (first) {
        queue.addFirst(b);
      } else {
        queue.addLast(b);
      }
    } else if (first && queue.remove(b)) {
      queue.addFirst(b); // queued behind others: move it up (still marked checking)
    }
    drain();
  }

  private void drain() {
    if (queue.isEmpty() || !running.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(this::run);
    } catch (RejectedExecutionException closedPool) {
      running.set(false);
    }
  }

  private void run() {
    try {
      for (Blob b; (b = queue.poll()) != null; ) {
        try {
          if (!cache.closed && !b.removed && !b.allChecked()) {
            long t0 = System.nanoTime();
            int bad = check(b, true, b.filePins.get() == 0);
            LOG.debug("read back blob {} before passthrough in {} ms: {} damaged chunk(s)", b.spec.digest(),
                (System.nanoTime() - t0) / 1_000_000, bad);
          }
        } catch (IOException | RuntimeException e) {
          if (cache.closed) {
            LOG.debug("read-back of {} stopped by the cache's close: {}", b.file, e.toString());
          } else {
            LOG.warn("cannot read back cache file {}: {}", b.file, e.toString());
          }
        } finally {
          b.checking.set(false);
        }
      }
    } finally {
      running.set(false);
      drain(); // one queued after the poll found the queue empty
    }
  }

  /** {@link #check(Blob, boolean, boolean)} at once, whatever else reads the disk. */
  int check(Blob b, boolean onlyUnchecked) throws IOException {
    return check(b, onlyUnchecked, false);
  }

  /**
   * Reads back the present chunks ({@code onlyUnchecked}: those this process does not vouch for
   * yet), vouches for those that match their CRC32C and drops those that do not; returns how many
   * were dropped. A missing cache file loses every present chunk, and they are counted too.
   * {@code quietDisk}: before each chunk, wait until no reader has loaded a chunk from disk for
   * {@link #QUIET_NANOS}. The background read-back after a restart runs beside the first load of
   * a model, which the daemon serves and checks itself; sharing the disk with it cost that load
   * 9 % (docs/performance.md, "After a restart"), so it reads only while the readers do not.
   */
  int check(Blob b, boolean onlyUnchecked, boolean quietDisk) throws IOException {
    int dropped = 0;
    if (b.presentCount.get() == 0) {
      return 0;
    }
    if (!Files.exists(b.file)) {
      return cache.eviction.dropMissing(b);
    }
    // O_DIRECT where the cache writes that way: after a crash the chunks are on disk, not in the page
    // cache (they were written with O_DIRECT), and a buffered read-back would pay for page-cache pages
    // and readahead of 128 KiB at a time (1 GiB in 2.4 s here, against the disk's 4 GB/s).
    b.acquire(); // the blob's own channels: its file is not deleted or replaced while it is read
    try {
      if (b.channel().size() == 0) {
        return cache.eviction.dropMissing(b); // gone and made again empty (by a handle's open meanwhile)
      }
      FileChannel ch = b.directChannel();
      int align = ch != null ? cache.align : 0;
      if (ch == null) {
        ch = b.channel();
      }
      ByteBuffer buf = align > 0
          ? ByteBuffer.allocateDirect(b.chunkSize + 2 * align).alignedSlice(align)
          : ByteBuffer.allocateDirect(b.chunkSize); // direct: a heap buffer is filled through a temporary direct one
      for (int i = 0; i < b.nChunks; i++) {
        if (!b.isPresent(i) || (onlyUnchecked && b.isChecked(i))) {
          continue;
        }
        if (quietDisk && !awaitQuietDisk()) {
          break;
        }
        b.pins.incrementAndGet(i); // pin, then check presence: eviction cannot punch it while it is read
        try {
          int seen = b.gen.get(i); // the copy read below, unless a newer one is published meanwhile
          if (!b.isPresent(i) || cache.closed) {
            continue;
          }
          if (matches(b, i, ch, buf, align)) {
            b.setChecked(i);
          } else if (cache.eviction.dropDamaged(b, i, seen)) {
            dropped++;
          }
        } finally {
          b.pins.decrementAndGet(i);
        }
      }
    } finally {
      b.release();
    }
    return dropped;
  }

  /** How long the disk must have served no reader's chunk load before a background read-back goes on. */
  static final long QUIET_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(500);

  /** Waits until no reader loaded a chunk from disk for {@link #QUIET_NANOS}; false when the cache closed meanwhile. */
  private boolean awaitQuietDisk() {
    while (!cache.closed) {
      long idle = System.nanoTime() - cache.lastDiskLoadNanos;
      if (idle >= QUIET_NANOS) {
        return true;
      }
      try {
        Thread.sleep(Math.max(1, (QUIET_NANOS - idle) / 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return false;
  }

  /** Reads chunk {@code i} into {@code buf} and compares its CRC32C with the recorded one. */
  static boolean matches(Blob b, int i, FileChannel ch, ByteBuffer buf, int align) throws IOException {
    int n = b.chunkLen(i);
    long pos = b.chunkStart(i);
    // A direct read is whole blocks from a block boundary; the last chunk's read stops at the end of file.
    buf.clear().limit(align > 0 ? (int) Math.min(buf.capacity(), roundUp(n, align)) : n);
    while (buf.hasRemaining()) {
      int r = ch.read(buf, pos + buf.position());
      if (r <= 0 || (align > 0 && buf.position() % align != 0)) {
        break; // end of file (a short direct read only happens there)
      }
    }
    int got = Math.min(buf.position(), n);
    buf.flip().limit(got); // left holding the chunk's bytes, for a caller that keeps them
    CRC32C c = new CRC32C();
    c.update(buf.duplicate());
    return got == n && (int) c.getValue() == b.crc[i];
  }

  private static long roundUp(long n, int align) {
    return (n + align - 1) / align * align;
  }
}
