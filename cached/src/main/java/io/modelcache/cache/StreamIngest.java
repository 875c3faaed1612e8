package io.modelcache.cache;

import com.github.luben.zstd.ZstdInputStream;
import io.modelcache.oci.Digest;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.GZIPInputStream;

/**
 * Compressed (gzip, zstd) layers: one sequential fetch of the whole blob, decompressed on the fly.
 *
 * <p><b>Why compressed layers are streamed whole.</b> gzip and zstd streams cannot be entered in
 * the middle, so the first miss starts one sequential fetch of the whole blob that decompresses on
 * the fly, writes the file's range and publishes chunks as they complete; readers wait only for
 * the chunks they need. The compressed bytes are hashed as the decompressor pulls them, so the
 * layer digest is checked at the end of the same pass. With a chunk digest index, each chunk is also
 * checked as it is decompressed and published only if it passes; one that fails stays unpublished
 * (its readers retry) unless the whole blob then matches its digest, which proves the index wrong for
 * it (logged once, counted, the index dropped for the blob) and publishes the held chunks.
 *
 * <p>Threading: runs on the cache's executor, one task per blob stream.
 */
final class StreamIngest {
  private final ChunkCache cache;
  private final LongAdder chunkVerifyFailures;
  private final LongAdder bytesFetched;
  private final HotChunks hot;

  StreamIngest(ChunkCache cache) {
    this.cache = cache;
    this.chunkVerifyFailures = cache.chunkVerifyFailures;
    this.bytesFetched = cache.bytesFetched;
    this.hot = cache.hot;
  }

  void runStream(Fetch f, BlobFetcher fetcher) {
    Blob b = f.blob;
    boolean acquired = false;
    Map<Integer, Pending> mine = new HashMap<>();
    for (Pending p : f.claims) {
      mine.put(p.chunk, p);
    }
    try {
      Ingest.begin(f);
      b.acquire();
      acquired = true;
      MessageDigest md = Digest.sha256();
      ChunkDigests d = b.digests;
      List<Pending> suspect = new ArrayList<>();
      int failedGranule = -1;
      try (InputStream raw = fetcher.open(0, b.spec.blobSize())) {
        f.stream(raw);
        HashingStream hashed = new HashingStream(raw, md, f);
        InputStream dec = b.spec.encoding() == Encoding.GZIP
            ? new GZIPInputStream(hashed, 1 << 16) : new ZstdInputStream(hashed);
        try {
          skipFully(dec, b.spec.contentOffset(), b);
          byte[] staging = new byte[1 << 16];
          ByteBuffer buf = hot.take();
          ChunkVerifier v = d == null ? null : new ChunkVerifier(d, b.chunkSize);
          List<Pending> held = new ArrayList<>();
          if (v != null) {
            v.restartAt(0);
          }
          try {
            for (int i = 0; i < b.nChunks && !f.isDone(); i++) {
              int n = b.chunkLen(i);
              cache.ingest.readFully(dec, staging, buf, n, f, -1);
              Pending p = mine.get(i);
              if (v == null) {
                if (p != null && cache.store.storeChunk(f, p, buf, n)) {
                  buf = hot.take();
                }
                continue;
              }
              ChunkVerifier.Result r = v.feed(i, buf);
              if (r == ChunkVerifier.Result.PASS) {
                for (Pending h : held) {
                  cache.store.publish(f, h, true);
                }
                held.clear();
                if (p != null && cache.store.store(f, p, buf, n, true, true)) {
                  buf = hot.take();
                }
                continue;
              }
              if (p != null) {
                cache.store.store(f, p, buf, n, false, false);
                held.add(p);
              }
              if (r == ChunkVerifier.Result.FAIL) {
                // Kept unpublished: if the whole blob matches its digest below, the index was wrong.
                chunkVerifyFailures.increment();
                failedGranule = v.failedGranule();
                suspect.addAll(held);
                held.clear();
                if (i + 1 < b.nChunks) {
                  v.restartAt(i + 1);
                }
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
        Digest got = Digest.of(md);
        if (hashed.count != b.spec.blobSize() || !got.equals(b.spec.digest())) {
          cache.verifier.verificationFailed(b, hashed.count == b.spec.blobSize() ? got : null, fetcher);
          f.fail(Verifier.failure(b));
        } else {
          if (!suspect.isEmpty()) {
            cache.checked.reject(b, d, failedGranule);
            for (Pending p : suspect) {
              cache.store.publish(f, p, false);
            }
          }
          f.finish();
          cache.verifier.markVerified(b);
        }
      }
    } catch (Throwable t) {
      f.fail(cache.ingest.asIo(b, t));
    } finally {
      f.releasePermit();
      if (acquired) {
        b.release();
      }
    }
    cache.eviction.maybeEvict();
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
        cache.anyProgress = f.lastProgress;
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
