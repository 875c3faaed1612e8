package io.modelcache.cache;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * In-memory state of one cached blob (open or not). Threading: presence bits, pins and access
 * stamps are atomics read lock-free by the hit path; writers (fetches) store bytes and set bits
 * under {@code rw.readLock()}, eviction clears bits and punches holes under {@code rw.writeLock()},
 * so a hole is never punched under freshly written bytes. {@code handles}, {@code users} and
 * {@code channel} are guarded by this object's monitor.
 */
final class Blob {
  final String key;
  final BlobSpec spec;
  final int chunkSize;
  final int chunkShift;
  final int nChunks;
  final Path file;
  final AtomicLongArray present;
  /** CRC32C per chunk; written before the chunk's presence bit is set (the bit publishes it). */
  final int[] crc;
  final AtomicIntegerArray pins;
  /**
   * Open {@link PinnedFile}s: while positive the whole file is in use by a reader we do not see
   * (the kernel, through passthrough), so eviction leaves every chunk alone.
   */
  final AtomicInteger filePins = new AtomicInteger();
  final AtomicLongArray access;
  final AtomicInteger presentCount = new AtomicInteger();
  /** Chunks brought in by read-ahead or fill and not read yet (for the prefetch-used metric). */
  final AtomicLongArray prefetched;
  final AtomicInteger prefetchedCount = new AtomicInteger();
  final AtomicLong cachedBytes = new AtomicLong();
  /** Chunks read from disk into memory at least once (later misses of them use the page cache). */
  final AtomicLongArray diskLoaded;
  /**
   * Chunks whose bytes in the cache file this process has vouched for: it wrote them (from memory
   * that passed the checks), or read them back and they matched their CRC32C. A chunk restored from
   * the index at start has no bit until it is read back. Never cleared: a chunk that leaves comes
   * back only through a write, which sets it again. Passthrough needs every chunk's bit.
   */
  final AtomicLongArray checked;
  final AtomicInteger checkedCount = new AtomicInteger();
  /** A background read-back of the unchecked chunks is queued or running. */
  final AtomicBoolean checking = new AtomicBoolean();
  /** A {@link PinnedRepair} of this blob is running or waiting to retry (one per blob). */
  final AtomicBoolean repairing = new AtomicBoolean();
  /**
   * Per chunk, bumped each time a copy of it is published and before one found damaged on disk is
   * punched out (even under a reader's pin). A read that saw it change while it copied may have
   * copied the damage or the hole, and reads again; a check that read a copy drops only that copy
   * (a stale check never drops the good copy fetched since). Changed under {@code rw}: publishing
   * holds the read lock (one publisher per chunk, the fetch that claimed it), dropping the write lock.
   */
  final AtomicIntegerArray gen;
  final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
  final ConcurrentHashMap<Integer, Pending> inflight = new ConcurrentHashMap<>();
  final AtomicBoolean verifying = new AtomicBoolean();
  final Object persistLock = new Object();
  volatile BlobState state = BlobState.PARTIAL;
  volatile long lastAccess;
  volatile boolean removed;
  volatile boolean dirty;
  /** Verified once: {@link #crc} holds known-good values for every chunk, present or not. */
  volatile boolean trusted;
  volatile BlobFetcher lastFetcher;
  /**
   * The chunk digest index's digests for this file: every chunk fetched is checked against them
   * before it is published. Null when the blob has no index, or after the index proved wrong for it.
   */
  volatile ChunkDigests digests;
  /** Whole-blob verifications that failed since the blob was last cleared (guarded by {@code rw} write). */
  int badVerifications;
  /** The digest the last failed verification got (null: the bytes did not even add up to the size). */
  io.modelcache.oci.Digest lastBadDigest;
  /** Bumped each time a failed verification drops the blob's data: a read that straddles it fails. */
  final AtomicInteger drops = new AtomicInteger();
  /** The index was found wrong for this blob (its whole digest matched bytes the index rejected). */
  volatile boolean indexRejected;
  /** Chunks published after passing the index check (cleared when they leave). */
  final AtomicLongArray indexVerified;
  final AtomicInteger indexVerifiedCount = new AtomicInteger();
  /** Guards {@link #hasher} and {@link #hashedChunks}. */
  final Object hashLock = new Object();
  /**
   * sha256 of chunks {@code [0, hashedChunks)} in arrival order, so that completing a blob needs no
   * re-read of what was hashed on the way in; null when the blob is not hashed incrementally.
   */
  java.security.MessageDigest hasher;
  int hashedChunks;
  private final boolean directIo;
  private volatile FileChannel channel;
  /** The same file opened with O_DIRECT, for whole-block chunk writes; null if unsupported. */
  private volatile FileChannel directChannel;
  private int handles;
  private int users;

  Blob(BlobSpec spec, int chunkSize, Path file, boolean directIo) {
    this.directIo = directIo;
    this.key = spec.key();
    this.spec = spec;
    this.chunkSize = chunkSize;
    this.chunkShift = Integer.numberOfTrailingZeros(chunkSize);
    long n = (spec.contentLength() + chunkSize - 1) / chunkSize;
    if (n > Integer.MAX_VALUE / 2) {
      throw new IllegalArgumentException("file of " + spec.contentLength() + " bytes has too many chunks");
    }
    this.nChunks = (int) n;
    this.file = file;
    this.present = new AtomicLongArray((nChunks + 63) >>> 6);
    this.crc = new int[nChunks];
    this.prefetched = new AtomicLongArray((nChunks + 63) >>> 6);
    this.diskLoaded = new AtomicLongArray((nChunks + 63) >>> 6);
    this.checked = new AtomicLongArray((nChunks + 63) >>> 6);
    this.indexVerified = new AtomicLongArray((nChunks + 63) >>> 6);
    this.pins = new AtomicIntegerArray(nChunks);
    this.gen = new AtomicIntegerArray(nChunks);
    this.access = new AtomicLongArray(nChunks);
  }

  long contentLength() {
    return spec.contentLength();
  }

  long chunkStart(int i) {
    return (long) i << chunkShift;
  }

  int chunkLen(int i) {
    return (int) Math.min(chunkSize, spec.contentLength() - chunkStart(i));
  }

  boolean isPresent(int i) {
    return (present.get(i >>> 6) & (1L << i)) != 0;
  }

  /**
   * {@link #isPresent} for a pinned chunk whose bit reads clear: eviction clears a bit before it
   * tests the pin and sets it back when pinned, under the write lock; the read lock waits that out,
   * so false here means the chunk really left (dropped as damaged, or the blob failed).
   */
  boolean isPresentSettled(int i) {
    if (isPresent(i)) {
      return true;
    }
    rw.readLock().lock();
    try {
      return isPresent(i);
    } finally {
      rw.readLock().unlock();
    }
  }

  boolean allPresent() {
    return presentCount.get() == nChunks;
  }

  /** Sets the bit; true only on the 0→1 transition (which also updates the counters). */
  boolean setPresent(int i) {
    int w = i >>> 6;
    long bit = 1L << i;
    while (true) {
      long v = present.get(w);
      if ((v & bit) != 0) {
        return false;
      }
      if (present.compareAndSet(w, v, v | bit)) {
        presentCount.incrementAndGet();
        cachedBytes.addAndGet(chunkLen(i));
        return true;
      }
    }
  }

  /** Clears the bit; true only on the 1→0 transition. */
  boolean clearPresent(int i) {
    int w = i >>> 6;
    long bit = 1L << i;
    while (true) {
      long v = present.get(w);
      if ((v & bit) == 0) {
        return false;
      }
      if (present.compareAndSet(w, v, v & ~bit)) {
        presentCount.decrementAndGet();
        cachedBytes.addAndGet(-chunkLen(i));
        clearIndexVerified(i); // a copy fetched later is checked again
        return true;
      }
    }
  }

  void setIndexVerified(int i) {
    long bit = 1L << i;
    if ((indexVerified.getAndUpdate(i >>> 6, v -> v | bit) & bit) == 0) {
      indexVerifiedCount.incrementAndGet();
    }
  }

  void clearIndexVerified(int i) {
    long bit = 1L << i;
    if ((indexVerified.getAndUpdate(i >>> 6, v -> v & ~bit) & bit) != 0) {
      indexVerifiedCount.decrementAndGet();
    }
  }

  /** Every chunk is present and passed the index check: the index vouches for the whole file. */
  boolean allIndexVerified() {
    return digests != null && indexVerifiedCount.get() == nChunks && allPresent();
  }

  boolean wasDiskLoaded(int i) {
    return (diskLoaded.get(i >>> 6) & (1L << i)) != 0;
  }

  void markDiskLoaded(int i) {
    long bit = 1L << i;
    diskLoaded.getAndUpdate(i >>> 6, v -> v | bit);
  }

  /** The sum of the chunks' generations over {@code [first, last]}: it changes when any of them does. */
  int gens(int first, int last) {
    int sum = 0;
    for (int i = first; i <= last; i++) {
      sum += gen.get(i);
    }
    return sum;
  }

  boolean isChecked(int i) {
    return (checked.get(i >>> 6) & (1L << i)) != 0;
  }

  void setChecked(int i) {
    long bit = 1L << i;
    if ((checked.get(i >>> 6) & bit) == 0 && (checked.getAndUpdate(i >>> 6, v -> v | bit) & bit) == 0) {
      checkedCount.incrementAndGet();
    }
  }

  /** Every chunk's bytes on disk were written or read back by this process (see {@link #checked}). */
  boolean allChecked() {
    return checkedCount.get() == nChunks;
  }

  void setPrefetched(int i) {
    long bit = 1L << i;
    if ((prefetched.getAndUpdate(i >>> 6, v -> v | bit) & bit) == 0) {
      prefetchedCount.incrementAndGet();
    }
  }

  /** Clears the prefetched mark; true if it was set (the first read of a prefetched chunk). */
  boolean clearPrefetched(int i) {
    long bit = 1L << i;
    if ((prefetched.get(i >>> 6) & bit) == 0) {
      return false;
    }
    if ((prefetched.getAndUpdate(i >>> 6, v -> v & ~bit) & bit) != 0) {
      prefetchedCount.decrementAndGet();
      return true;
    }
    return false;
  }

  void touch(int i, long now) {
    if (access.getPlain(i) != now) {
      access.setOpaque(i, now);
    }
  }

  long latestAccess() {
    long m = lastAccess;
    for (int i = 0; i < nChunks; i++) {
      m = Math.max(m, access.get(i));
    }
    return m;
  }

  FileChannel channel() {
    return channel;
  }

  /** The O_DIRECT channel while the file is open, or null (then use {@link #channel()}). */
  FileChannel directChannel() {
    return directChannel;
  }

  /** Starts (or restarts, from chunk 0) the in-order hash, for blobs whose file is the whole blob. */
  void resetHash() {
    synchronized (hashLock) {
      boolean whole = spec.encoding() == Encoding.RAW && spec.contentOffset() == 0
          && spec.contentLength() == spec.blobSize();
      hasher = whole && state == BlobState.PARTIAL ? io.modelcache.oci.Digest.sha256() : null;
      hashedChunks = 0;
    }
  }

  void dropHash() {
    synchronized (hashLock) {
      hasher = null;
      hashedChunks = 0;
    }
  }

  /** Opens the blob file on first use; pair with {@link #release()}. */
  synchronized void acquire() throws IOException {
    if (users == 0) {
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
      if (directIo) {
        try {
          directChannel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
              com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (IOException | UnsupportedOperationException e) {
          directChannel = null; // buffered writes still work
        }
      }
    }
    users++;
  }

  synchronized void release() {
    if (--users == 0) {
      FileChannel ch = channel;
      channel = null;
      closeDirect();
      if (ch == null) {
        return; // closed by the cache's close()
      }
      try {
        ch.close();
        if (presentCount.get() == 0 && !removed) {
          java.nio.file.Files.deleteIfExists(file);
        }
      } catch (IOException ignored) {
        // nothing to flush that a checksum would not catch; a stray empty file is removed at open
      }
    }
  }

  /** At cache close: flushes and closes a still-open channel; false if none was open. */
  synchronized boolean forceAndClose() throws IOException {
    FileChannel ch = channel;
    if (ch == null) {
      return false;
    }
    channel = null;
    closeDirect();
    try (ch) {
      ch.force(false);
    } catch (java.nio.channels.ClosedChannelException e) {
      // A fetch thread interrupted at shutdown closes the channel under everyone: flush by path.
      return false;
    }
    return true;
  }

  private void closeDirect() {
    FileChannel d = directChannel;
    directChannel = null;
    if (d != null) {
      try {
        d.close();
      } catch (IOException ignored) {
        // its writes are in the file already; force() on the buffered channel flushes the file
      }
    }
  }

  synchronized int users() {
    return users;
  }

  synchronized int handles() {
    return handles;
  }

  synchronized void addHandle() {
    handles++;
  }

  synchronized int removeHandle() {
    return --handles;
  }
}
