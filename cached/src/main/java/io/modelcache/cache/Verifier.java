package io.modelcache.cache;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whole-blob verification: the layer digest over a blob once all its chunks are present.
 *
 * <p><b>Why hash in arrival order.</b> Verifying a completed blob used to re-read it from disk; on
 * a cold sequential read that re-read competed with the reader for CPU. Chunks that arrive in
 * order (or arrive early and wait in memory) are fed to the blob's sha256 as they come, so a blob
 * read front to back is verified without reading it again; completion hashes only the rest. Any
 * drop of an already-hashed chunk restarts the hash, so a refetch can never be verified against
 * bytes that are no longer in the file.
 *
 * <p><b>Why served bytes are unverified until the blob is complete (a deliberate trade).</b> The
 * only trustworthy checksum without a chunk index is the layer digest, over the whole blob.
 * Waiting for the whole blob before serving the first byte would defeat lazy loading, so chunks
 * are served as they arrive; once every chunk is present the blob is hashed (for tar members with
 * the header and trailer fetched from upstream, for compressed layers while streaming) and on
 * mismatch the blob is dropped, marked FAILED persistently, and every later read fails with "blob
 * &lt;digest&gt; failed verification". Once a blob has been verified, its chunks' CRC32C values are
 * known good and kept (persisted) even after those chunks are evicted, so a refetch that does not
 * match is rejected. (A blob larger than the budget is never whole at once, so it never gets this
 * far: a chunk digest index closes that gap, see {@link CheckedIngest}.)
 *
 * <p><b>Why no whole-blob hash for a blob every chunk of which matched its chunk index (decided from a
 * measurement).</b> An index is used for a mount only if it names the mounted manifest digest and
 * every layer digest and lists each file where the manifest puts it; its blob is fetched by digest, and
 * under a {@code require: sigstore} trust rule a trusted key must have signed it. Every byte of a blob
 * it covers has then matched a sha256 of that index before a reader could see it, so hashing the whole
 * blob again at completion cannot keep a wrong byte from being served; it could only tell, afterwards,
 * that the index and the layer digest disagree. Its cost, measured with {@code bench/probe 512 3}
 * ({@code IngestProbe}: a 512 MiB blob from a loopback docker-registry into the cache with whole-blob
 * read-ahead and 1 MiB reads, 2 shared vCPUs, 2026-12-02, medians of 3 runs): chunk index alone
 * <b>3.44 CPU-s/GiB</b> (3.38–4.22) and 4.33 s; chunk index plus the whole-blob sha256
 * <b>4.96 CPU-s/GiB</b> (4.66–5.68) and 5.79 s, i.e. +44% CPU and +34% time on the cold path; the
 * layer digest alone (no index) 4.90 CPU-s/GiB (4.38–6.84). So the whole hash is not kept: a blob
 * whose every chunk passed the index is marked verified without it, and checking chunks costs less CPU
 * than the whole-blob hash it replaces (no second pass). What remains: an index found wrong for a blob
 * (an index chunk failing twice with the same digest) makes {@link CheckedIngest} fetch and hash that
 * blob whole once; {@code modelcache cache verify} hashes whole blobs on demand; a pushed index that
 * agrees with bytes other than the layer's is what index signatures (trust rules) guard against.
 *
 * <p><b>Why a failed verification is not final.</b> Bytes damaged on the way (a proxy, a link) differ
 * from one fetch to the next; bytes the registry itself holds wrong come back the same. So a failed
 * whole-blob check drops the blob and fetches it again in the background after a backoff, and only the
 * same wrong digest twice (or {@link #MAX_VERIFICATIONS} failures) marks it FAILED, which a remount, a
 * new daemon or {@code cache verify} clears. A read that overlapped the drop fails (its bytes may be
 * the dropped ones); {@code verify.unindexed: strict} readers wait for the good copy instead.
 *
 * <p>Threading: the automatic check runs on the cache's executor, at most one per blob at a time.
 */
final class Verifier {
  private static final Logger LOG = LoggerFactory.getLogger(Verifier.class);
  private static final int IO_BUF = 1 << 20;
  private final ChunkCache cache;
  private final Executor executor;
  private final LongAdder bytesFetched;
  private final LongAdder verifyFailures;

  Verifier(ChunkCache cache) {
    this.cache = cache;
    this.executor = cache.executor;
    this.bytesFetched = cache.bytesFetched;
    this.verifyFailures = cache.verifyFailures;
  }

  static IOException failure(Blob b) {
    return ModelCacheException.digestMismatch("blob " + b.spec.digest() + " failed verification");
  }

  /** Schedules the whole-blob check of a raw blob once all its chunks are present. */
  void maybeVerify(Blob b, BlobFetcher fetcher) {
    if (cache.closed || b.spec.encoding() != Encoding.RAW || b.state != BlobState.PARTIAL || !b.allPresent()) {
      return;
    }
    if (b.allIndexVerified()) {
      markVerified(b); // every chunk matched the index accepted for this manifest: see the essay
      return;
    }
    if (!b.verifying.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(() -> {
        VerifyResult r = null;
        try {
          r = verifyRaw(b, fetcher, true);
        } catch (IOException | RuntimeException e) {
          LOG.warn("cannot verify blob {} yet: {}", b.spec.digest(), e.toString());
        } finally {
          b.verifying.set(false);
        }
        if (r != null && r.status() == VerifyResult.Status.INCOMPLETE) {
          // Damaged chunks it dropped may be back already (fetched at once for a file in use): their
          // arrival found this verification running and did not start another.
          maybeVerify(b, fetcher);
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
  VerifyResult verifyRaw(Blob b, BlobFetcher fetcher, boolean incremental) throws IOException {
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
      // Chunks this process has not read back yet (a restart): damaged ones are dropped and fetched
      // again first, else their damage would fail the whole blob and refetch all of it.
      int damaged = b.allChecked() ? 0 : cache.atRest.check(b, true);
      if (damaged > 0) {
        return new VerifyResult(b.key, VerifyResult.Status.INCOMPLETE,
            damaged + " chunk(s) no longer matched their checksum on disk: dropped, fetched again");
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
      Digest got = Digest.of(md);
      if (total == s.blobSize() && got.equals(s.digest())) {
        markVerified(b);
        return new VerifyResult(b.key, VerifyResult.Status.VERIFIED, "sha256 matches " + s.digest());
      }
      boolean failed = verificationFailed(b, total == s.blobSize() ? got : null, fetcher);
      return new VerifyResult(b.key, VerifyResult.Status.FAILED, failure(b).getMessage()
          + (failed ? "" : "; dropped, fetching it again"));
    } finally {
      b.release();
      for (int i = 0; i < b.nChunks; i++) {
        b.pins.decrementAndGet(i);
      }
    }
  }

  /**
   * Whether the index, not the bytes, is wrong: fetches the whole blob once and returns true if it
   * matches its layer digest and its granule {@code g} hashes to {@code got}, the digest the index
   * rejected (twice). Any failure to tell counts as "the bytes are wrong" (the caller refetches).
   */
  boolean indexIsWrong(Blob b, BlobFetcher fetcher, ChunkDigests d, int g, byte[] got) {
    BlobSpec s = b.spec;
    long gStart = s.contentOffset() + d.granuleStart(g);
    long gEnd = gStart + d.granuleLength(g);
    MessageDigest whole = Digest.sha256();
    MessageDigest part = Digest.sha256();
    long pos = 0;
    byte[] buf = new byte[1 << 16];
    try (InputStream in = fetcher.open(0, s.blobSize())) {
      int r;
      while (pos < s.blobSize() && (r = in.read(buf, 0, (int) Math.min(buf.length, s.blobSize() - pos))) > 0) {
        whole.update(buf, 0, r);
        long from = Math.max(pos, gStart);
        long to = Math.min(pos + r, gEnd);
        if (from < to) {
          part.update(buf, (int) (from - pos), (int) (to - from));
        }
        pos += r;
      }
    } catch (IOException | RuntimeException e) {
      LOG.debug("cannot check blob {} whole: {}", s.digest(), e.toString());
      return false;
    }
    bytesFetched.add(pos);
    return pos == s.blobSize() && Digest.of(whole).equals(s.digest())
        && MessageDigest.isEqual(part.digest(), got);
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

  void markVerified(Blob b) {
    b.rw.writeLock().lock();
    try {
      if (b.state == BlobState.PARTIAL && b.allPresent() && !b.removed) {
        b.state = BlobState.COMPLETE;
        b.trusted = true;
        b.dropHash();
        cache.recovery.persistBlob(b);
        for (int g = 0; g < b.present.length(); g++) {
          cache.recovery.persistGroup(b, g);
        }
      }
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  /**
   * A whole-blob verification of {@code b} failed with digest {@code got} (null: wrong length). Drops
   * its data; the first time, or when the result differs from the last failure's (bytes damaged on the
   * way differ each time), the blob is fetched again after a backoff; when the same wrong digest comes
   * back (the upstream's bytes are wrong) or after {@link #MAX_VERIFICATIONS} failures it is marked
   * FAILED (persisted) until a remount, a new daemon or {@code cache verify} clears it. Returns true
   * if it is FAILED now.
   */
  boolean verificationFailed(Blob b, Digest got, BlobFetcher fetcher) {
    boolean failed;
    int n;
    b.rw.writeLock().lock();
    try {
      if (b.state != BlobState.PARTIAL || b.removed) {
        return b.state == BlobState.FAILED;
      }
      n = ++b.badVerifications;
      failed = (got != null && got.equals(b.lastBadDigest)) || n >= MAX_VERIFICATIONS;
      b.lastBadDigest = got;
      verifyFailures.increment();
      dropData(b);
      if (failed) {
        b.state = BlobState.FAILED;
        b.trusted = false;
        LOG.warn("blob {} failed verification {} time(s), the last two with the same result (got {}); dropped its "
            + "cached data, reads fail until a remount, a daemon restart or 'modelcache cache verify' clears it",
            b.spec.digest(), n, got);
      } else {
        b.resetHash();
        cache.blobRefetches.increment();
        LOG.warn("blob {} failed verification (got {}); dropped its cached data, fetching it again ({} of {})",
            b.spec.digest(), got, n, MAX_VERIFICATIONS - 1);
      }
      cache.recovery.persistBlob(b);
      for (int g = 0; g < b.present.length(); g++) {
        cache.recovery.persistGroup(b, g);
      }
    } finally {
      b.rw.writeLock().unlock();
    }
    if (!failed) {
      scheduleRefetch(b, fetcher, n);
    }
    return failed;
  }

  /** Most whole-blob verifications that may fail before the blob is FAILED, even with differing results. */
  static final int MAX_VERIFICATIONS = 8;
  private static final long REFETCH_BACKOFF_MS = 100;

  /**
   * Fetches a dropped blob again in the background after a backoff (doubling per failure), at
   * read-ahead priority, so its readers (and a strict mount's waiting ones) see it whole and verified
   * without asking; only if it fits in the budget and some handle still supplies upstream access.
   */
  private void scheduleRefetch(Blob b, BlobFetcher fetcher, int failures) {
    BlobFetcher f = fetcher != null ? fetcher : b.lastFetcher;
    if (f == null || b.spec.contentLength() > cache.cfg.budgetBytes() || cache.closed) {
      return;
    }
    long delay = REFETCH_BACKOFF_MS << Math.min(failures - 1, 6);
    try {
      java.util.concurrent.CompletableFuture.delayedExecutor(delay, java.util.concurrent.TimeUnit.MILLISECONDS, executor)
          .execute(() -> {
            if (cache.closed || b.removed || b.state != BlobState.PARTIAL || b.handles() == 0) {
              return;
            }
            java.util.List<Pending> mine = new java.util.ArrayList<>();
            for (int i = 0; i < b.nChunks; i++) {
              if (!b.isPresent(i)) {
                Ingest.claimWithGranule(b, i, mine);
              }
            }
            if (!mine.isEmpty()) {
              cache.ingest.startFetches(b, f, mine, FetchPriority.READ_AHEAD);
            }
          });
    } catch (RejectedExecutionException e) {
      // closing
    }
  }

  /** Gives a FAILED blob another try: PARTIAL again with no failures counted (its data is gone already). */
  void clearFailure(Blob b) {
    if (b.state != BlobState.FAILED) {
      return;
    }
    b.rw.writeLock().lock();
    try {
      if (b.state != BlobState.FAILED || b.removed) {
        return;
      }
      b.state = BlobState.PARTIAL;
      b.badVerifications = 0;
      b.lastBadDigest = null;
      b.resetHash();
      cache.recovery.persistBlob(b);
      LOG.info("blob {} failed verification before; trying it again", b.spec.digest());
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  /** Drops every chunk of {@code b} and its file. Caller holds rw write. */
  private void dropData(Blob b) {
    b.drops.incrementAndGet();
    b.trusted = false;
    cache.forgetChunks(b);
    dropFile(b);
  }

  /** Deletes the blob file, or truncates it while someone still has it open. Caller holds rw write. */
  static void dropFile(Blob b) {
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
}
