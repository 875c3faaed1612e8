package io.modelcache.cache;

import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches of raw (and tar member) blobs that have a chunk digest index: every chunk is checked
 * against the index as it arrives, before any of its bytes are visible to a reader.
 *
 * <p><b>Why verify at the index's granularity, in the same pass.</b> The index's chunk size need not
 * be the cache's. A cache chunk holding several index chunks is hashed piece by piece; an index chunk
 * spanning several cache chunks is hashed as they arrive, the fetch is widened to whole index chunks,
 * and its cache chunks are written to disk but published only once the index chunk passed. Either
 * way each byte is hashed once, on its way from the socket buffer to the disk write
 * ({@link ChunkVerifier}).
 *
 * <p><b>Why refetch instead of failing.</b> A chunk that does not match its digest was damaged on the
 * way (a proxy, a mirror, a flaky link): the fetch is retried from the start of the failed index
 * chunk, with backoff, up to {@link #MAX_ATTEMPTS} times, on the next source the fetcher has for that
 * attempt. Only then do the waiting reads fail (EIO); the next read starts afresh.
 *
 * <p><b>Why a repeated identical mismatch checks the whole blob.</b> Bytes damaged in flight differ
 * from one attempt to the next; an index built from other bytes fails the same way every time. When
 * two attempts hash an index chunk to the same wrong digest, the whole blob is fetched and hashed: if
 * it matches its layer digest and holds exactly those bytes, the index is wrong for this blob. That
 * is logged once and counted, the index is no longer used for the blob (it falls back to whole-blob
 * verification), and the fetch goes on without it.
 *
 * <p><b>Why the whole-blob hash is skipped for blobs the index fully covers.</b> See
 * {@link Verifier}: measured with bench/probe, it is a second sha256 pass over every byte on the cold
 * path (+44% CPU-s/GiB, +34% time for a 512 MiB blob) and cannot keep a wrong byte from being served
 * once every chunk matched an index accepted for this manifest and its layer digests.
 *
 * <p><b>Transport faults are not this class's business.</b> Resets, 5xx and cut bodies are resumed by
 * the source the fetcher reads ({@code source.ResilientSource}), so a stream seen here either delivers
 * every byte or fails only after the fetch timeout passed without progress.
 *
 * <p>Threading: runs on the fetch task's thread; counters are shared.
 */
final class CheckedIngest {
  private static final Logger LOG = LoggerFactory.getLogger(CheckedIngest.class);
  /** Fetches of one index chunk before its readers get an error. */
  static final int MAX_ATTEMPTS = 8;
  private static final long BACKOFF_MS = 20;
  private static final long MAX_BACKOFF_MS = 1000;

  private final ChunkCache cache;
  private final HotChunks hot;
  private final LongAdder chunkVerifyFailures;
  private final LongAdder chunkRefetches;
  private final LongAdder indexRejections;

  CheckedIngest(ChunkCache cache) {
    this.cache = cache;
    this.hot = cache.hot;
    this.chunkVerifyFailures = cache.chunkVerifyFailures;
    this.chunkRefetches = cache.chunkRefetches;
    this.indexRejections = cache.indexRejections;
  }

  /** Fetches, checks and publishes the fetch's claims (consecutive chunks) or throws. */
  void fetch(Fetch f, BlobFetcher fetcher, ChunkDigests d) throws IOException {
    Blob b = f.blob;
    ChunkVerifier v = new ChunkVerifier(d, b.chunkSize);
    Map<Integer, Pending> mine = new HashMap<>();
    for (Pending p : f.claims) {
      mine.put(p.chunk, p);
    }
    int pos = v.alignDown(f.claims.getFirst().chunk);
    int z = v.alignUp(f.claims.getLast().chunk, b.nChunks);
    int attempt = 0;
    byte[] lastBad = null;
    int lastBadGranule = -1;
    boolean wholeChecked = false; // at most one whole-blob fetch per fetch
    List<Pending> held = new ArrayList<>();
    ByteBuffer buf = hot.take();
    try {
      while (pos <= z) {
        if (b.digests != d) { // found wrong for this blob meanwhile: go on as a blob without an index
          List<Pending> rest = new ArrayList<>();
          for (Pending p : f.claims) {
            if (p.chunk >= pos) {
              rest.add(p);
            }
          }
          if (!rest.isEmpty()) {
            cache.ingest.fetchPlain(f, fetcher, rest);
          }
          return;
        }
        int failedAt = -1;
        long start = b.chunkStart(pos);
        long end = b.chunkStart(z) + b.chunkLen(z);
        held.clear();
        try (InputStream in = fetcher.open(b.spec.contentOffset() + start, end - start, attempt)) {
          f.stream(in);
          byte[] staging = in instanceof ReadableByteChannel ? null : new byte[64 << 10];
          v.restartAt(pos);
          for (int j = pos; j <= z; j++) {
            int n = b.chunkLen(j);
            cache.ingest.readFully(in, staging, buf, n, f, b.spec.contentOffset() + b.chunkStart(j));
            ChunkVerifier.Result r = v.feed(j, buf);
            Pending p = mine.get(j);
            if (r == ChunkVerifier.Result.FAIL) {
              failedAt = v.from();
              break;
            }
            if (r == ChunkVerifier.Result.PENDING) {
              if (p != null) {
                cache.store.store(f, p, buf, n, false, false);
                held.add(p);
              }
              continue;
            }
            for (Pending h : held) {
              cache.store.publish(f, h, true);
            }
            held.clear();
            if (p != null && cache.store.store(f, p, buf, n, true, true)) {
              buf = hot.take();
            }
            pos = j + 1;
          }
        }
        if (failedAt < 0) {
          return;
        }
        chunkVerifyFailures.increment();
        int g = v.failedGranule();
        byte[] bad = v.failedDigest();
        if (!wholeChecked && lastBad != null && g == lastBadGranule && Arrays.equals(bad, lastBad)) {
          wholeChecked = true;
          if (cache.verifier.indexIsWrong(b, fetcher, d, g, bad)) {
            reject(b, d, g);
            continue;
          }
        }
        lastBad = bad;
        lastBadGranule = g;
        attempt++;
        if (attempt >= MAX_ATTEMPTS) {
          throw ModelCacheException.digestMismatch("chunk " + g + " (" + d.granule() + " bytes) of blob "
              + b.spec.digest() + " failed verification against its chunk index " + attempt + " times");
        }
        LOG.debug("chunk {} of blob {} failed verification (attempt {}); fetching it again", g, b.spec.digest(), attempt);
        chunkRefetches.increment();
        backoff(attempt);
        f.progress(); // the wait was ours, not a silent upstream's
        pos = failedAt;
      }
    } finally {
      hot.give(buf);
    }
  }

  /** Stops using the index for this blob: it was shown wrong for bytes that match the layer digest. */
  void reject(Blob b, ChunkDigests d, int granule) {
    synchronized (b) {
      if (b.digests != d) {
        return;
      }
      b.digests = null;
      b.indexRejected = true;
    }
    indexRejections.increment();
    LOG.warn("chunk index is wrong for blob {} (chunk {} differs from bytes that match the layer digest); "
        + "no longer using it for this blob", b.spec.digest(), granule);
  }

  private static void backoff(int attempt) throws InterruptedIOException {
    long ms = Math.min(MAX_BACKOFF_MS, BACKOFF_MS << Math.min(attempt - 1, 10));
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while refetching a chunk");
    }
  }
}
