package io.modelcache.cache;

import io.modelcache.error.ModelCacheException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;

/**
 * Misses and fetches of raw (and tar member) layers: claims, ranged requests, reading a chunk off
 * the wire (storing it is {@link ChunkStore}'s).
 *
 * <p><b>Why single flight and coalescing.</b> Model loaders fan out many threads over the same
 * tensors; N readers of a missing chunk must cost one upstream request, and a read spanning
 * several missing chunks one ranged request. A map of in-flight chunks per blob gives both: the
 * first reader claims the chunk, later ones wait on its future. A scheduler bounds upstream
 * requests per cache and orders them by priority (demand, read-ahead, fill).
 *
 * <p><b>Why timeouts measure progress, not total time.</b> A slow but moving download of a large
 * range is fine; a silent upstream is not. Readers wait on a fetch only while it made progress
 * within {@link CacheConfig#fetchTimeout()}; otherwise they abort it (closing its stream and
 * returning its permit) and fail with an IOException, which FUSE turns into EIO instead of a hung
 * process. The next read simply tries again.
 *
 * <p><b>Why fetches read into direct buffers.</b> Fetches read from the socket straight into the
 * page-aligned direct buffers that {@link ChunkStore} writes through O_DIRECT, so each byte is
 * copied once in user space on the way in.
 *
 * <p>Threading: claims and waits run on reader threads; fetch tasks on the cache's executor.
 */
final class Ingest {
  private final ChunkCache cache;
  private final CacheConfig cfg;
  private final FetchScheduler scheduler;
  private final Executor executor;
  private final long timeoutNanos;
  private final LongAdder hits;
  private final LongAdder misses;
  private final LongAdder bytesFetched;
  private final HotChunks hot;

  Ingest(ChunkCache cache) {
    this.cache = cache;
    this.cfg = cache.cfg;
    this.scheduler = cache.scheduler;
    this.executor = cache.executor;
    this.timeoutNanos = cache.timeoutNanos;
    this.hits = cache.hits;
    this.misses = cache.misses;
    this.bytesFetched = cache.bytesFetched;
    this.hot = cache.hot;
  }

  /** Returns the new claim on chunk i, or null if it is present or already in flight. */
  static Pending claim(Blob b, int i) {
    Pending claim = new Pending(i);
    if (b.inflight.putIfAbsent(i, claim) != null) {
      return null;
    }
    if (b.isPresent(i)) {
      b.inflight.remove(i, claim);
      claim.future.complete(null);
      return null;
    }
    return claim;
  }

  /**
   * Claims chunk i as {@link #claim} does, adding it to {@code out}; when the blob's chunk index has
   * granules spanning several cache chunks, claims every other free chunk of i's granule with it
   * (under the blob's claim lock), so that one fetch owns each granule it must read whole and a
   * sequential reader does not make each granule be fetched once per cache chunk.
   */
  static Pending claimWithGranule(Blob b, int i, List<Pending> out) {
    ChunkDigests d = b.digests;
    int per = d == null ? 1 : Math.max(1, d.granule() >>> b.chunkShift);
    if (per == 1) {
      Pending c = claim(b, i);
      if (c != null) {
        out.add(c);
      }
      return c;
    }
    synchronized (b.inflight) {
      Pending c = claim(b, i);
      if (c == null) {
        return null;
      }
      out.add(c);
      int g0 = i - i % per;
      for (int j = g0; j < Math.min(b.nChunks, g0 + per); j++) {
        Pending o = j == i ? null : claim(b, j);
        if (o != null) {
          out.add(o);
        }
      }
      return c;
    }
  }

  /**
   * Chunks of a complete blob read from its pinned file by the transport, not through this cache (a
   * spliced reply): hits, and as recent as a read here would make them.
   */
  void servedInPlace(Blob b, int first, int last) {
    long now = cfg.clock().getAsLong();
    for (int i = first; i <= last; i++) {
      b.touch(i, now);
    }
    hits.add(last - first + 1);
  }

  /** Makes chunks [first, last] present (the caller has pinned them) or throws. */
  void ensureChunks(Blob b, BlobFetcher fetcher, int first, int last) throws IOException {
    ensureChunks(b, fetcher, first, last, FetchPriority.DEMAND);
  }

  /** As {@link #ensureChunks(Blob, BlobFetcher, int, int)}, fetching what is missing at {@code priority}. */
  void ensureChunks(Blob b, BlobFetcher fetcher, int first, int last, FetchPriority priority) throws IOException {
    ensureChunks(b, fetcher, first, last, priority, 3);
  }

  private void ensureChunks(Blob b, BlobFetcher fetcher, int first, int last, FetchPriority priority,
      int cancelRetries) throws IOException {
    long now = cfg.clock().getAsLong();
    List<Pending> waits = null;
    List<Pending> mine = null;
    int hit = 0;
    for (int i = first; i <= last; i++) {
      if (b.isPresent(i)) {
        hit++;
        b.touch(i, now);
        continue;
      }
      misses.increment();
      Pending p;
      while ((p = b.inflight.get(i)) == null && !b.isPresent(i)) {
        if (mine == null) {
          mine = new ArrayList<>();
        }
        if ((p = claimWithGranule(b, i, mine)) != null) {
          break;
        }
      }
      if (p == null) {
        continue; // arrived meanwhile
      }
      if (waits == null) {
        waits = new ArrayList<>();
      }
      waits.add(p);
    }
    hits.add(hit);
    if (waits == null) {
      return;
    }
    if (mine != null) {
      startFetches(b, fetcher, mine, priority);
    }
    for (Pending p : waits) {
      Fetch f = p.fetch;
      if (f != null && priority == FetchPriority.DEMAND && f.priority != FetchPriority.DEMAND) {
        f.boost();
      }
      try {
        await(b, p);
      } catch (FetchCancelled e) {
        if (cancelRetries <= 0) {
          throw e;
        }
        // raced a last-handle close: the chunk is ours to fetch now
        ensureChunks(b, fetcher, p.chunk, p.chunk, priority, cancelRetries - 1);
      }
    }
    now = cfg.clock().getAsLong();
    for (int i = first; i <= last; i++) {
      b.touch(i, now);
    }
  }

  private void await(Blob b, Pending p) throws IOException {
    while (true) {
      Fetch running = p.fetch;
      long last = p.lastProgress();
      if (running == null || !running.started) {
        last = Math.max(last, cache.anyProgress); // queued behind other fetches that are moving
      }
      long left = timeoutNanos - (System.nanoTime() - last);
      if (left <= 0) {
        IOException e = new ModelCacheException(ModelCacheException.Kind.UNREACHABLE,
            "timed out fetching blob " + b.spec.digest() + ": no progress from upstream for "
                + cfg.fetchTimeout().toMillis() + " ms");
        Fetch f = p.fetch;
        if (f != null) {
          f.fail(e);
        } else {
          b.inflight.remove(p.chunk, p);
          p.future.completeExceptionally(e);
        }
        throw e;
      }
      try {
        p.future.get(left, TimeUnit.NANOSECONDS);
        return;
      } catch (TimeoutException e) {
        // loop: fail only if the fetch made no progress in the whole window
      } catch (ExecutionException e) {
        throw rethrown(e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while fetching blob " + b.spec.digest());
      }
    }
  }

  /** A fresh exception per waiter (the shared one keeps its cause and kind). */
  private static IOException rethrown(Throwable cause) {
    if (cause instanceof FetchCancelled c) {
      return new FetchCancelled(c.getMessage());
    }
    if (cause instanceof ModelCacheException m) {
      return new ModelCacheException(m.kind(), m.getMessage(), m);
    }
    return new IOException(cause.getMessage(), cause);
  }

  /** Starts fetches for claimed chunks (ascending): one ranged request per run, or one stream. */
  void startFetches(Blob b, BlobFetcher fetcher, List<Pending> claims, FetchPriority priority) {
    if (b.spec.encoding() != Encoding.RAW) {
      Map<Integer, Pending> all = new HashMap<>();
      for (Pending p : claims) {
        all.put(p.chunk, p);
      }
      for (int i = 0; i < b.nChunks; i++) {
        if (!all.containsKey(i) && !b.isPresent(i)) {
          Pending c = claim(b, i);
          if (c != null) {
            all.put(i, c);
          }
        }
      }
      List<Pending> ordered = new ArrayList<>(all.values());
      ordered.sort((x, y) -> Integer.compare(x.chunk, y.chunk));
      Fetch f = new Fetch(b, ordered, priority);
      submit(f, () -> cache.streams.runStream(f, fetcher));
      return;
    }
    claims = new ArrayList<>(claims);
    claims.sort((x, y) -> Integer.compare(x.chunk, y.chunk)); // granule claims come unordered
    int maxRun = Math.max(1, (64 << 20) / b.chunkSize);
    int start = 0;
    for (int i = 1; i <= claims.size(); i++) {
      boolean breakRun = i == claims.size()
          || claims.get(i).chunk != claims.get(i - 1).chunk + 1
          || i - start >= maxRun;
      if (breakRun) {
        Fetch f = new Fetch(b, List.copyOf(claims.subList(start, i)), priority);
        submit(f, () -> runRaw(f, fetcher));
        start = i;
      }
    }
  }

  /** Queues the fetch with the scheduler; it runs on the executor once it has a slot. */
  private void submit(Fetch f, Runnable task) {
    FetchScheduler.Ticket t = scheduler.ticket(f.priority, task,
        () -> f.fail(new IOException("chunk cache is closed")));
    f.bind(scheduler, t);
    scheduler.submit(t);
  }

  /** The task got its slot: mark the fetch started, or give the slot back if it already ended. */
  static void begin(Fetch f) throws IOException {
    if (f.isDone()) {
      throw new IOException("fetch aborted");
    }
    f.markStarted();
  }

  private void runRaw(Fetch f, BlobFetcher fetcher) {
    Blob b = f.blob;
    boolean acquired = false;
    try {
      begin(f);
      b.acquire();
      acquired = true;
      ChunkDigests d = b.digests;
      if (d != null) {
        cache.checked.fetch(f, fetcher, d);
      } else {
        fetchPlain(f, fetcher, f.claims);
      }
      f.finish();
    } catch (Throwable t) {
      f.fail(asIo(b, t));
    } finally {
      f.releasePermit();
      if (acquired) {
        b.release();
      }
    }
    cache.eviction.maybeEvict();
    cache.verifier.maybeVerify(b, fetcher);
  }
  /** Fetches and publishes consecutive claims of a blob without an index, in one ranged request. */
  void fetchPlain(Fetch f, BlobFetcher fetcher, List<Pending> claims) throws IOException {
    Blob b = f.blob;
    int a = claims.get(0).chunk;
    int z = claims.get(claims.size() - 1).chunk;
    long start = b.chunkStart(a);
    long end = b.chunkStart(z) + b.chunkLen(z);
    ByteBuffer buf = hot.take();
    try (InputStream in = fetcher.open(b.spec.contentOffset() + start, end - start)) {
      f.stream(in);
      byte[] staging = in instanceof ReadableByteChannel ? null : new byte[64 << 10];
      for (Pending p : claims) {
        int n = b.chunkLen(p.chunk);
        readFully(in, staging, buf, n, f, b.spec.contentOffset() + b.chunkStart(p.chunk));
        if (cache.store.storeChunk(f, p, buf, n)) {
          buf = hot.take();
        }
      }
    } finally {
      hot.give(buf);
    }
  }

  IOException asIo(Blob b, Throwable t) {
    if (t instanceof IOException e) {
      return e;
    }
    return new IOException("fetching blob " + b.spec.digest() + " failed: " + t, t);
  }

  /**
   * Reads exactly {@code n} bytes into {@code dst} (cleared first, flipped after): straight into the
   * direct buffer when the stream is also a channel, else through {@code staging}.
   */
  void readFully(InputStream in, byte[] staging, ByteBuffer dst, int n, Fetch f, long at) throws IOException {
    dst.clear().limit(n);
    ReadableByteChannel ch = staging == null ? (ReadableByteChannel) in : null;
    while (dst.hasRemaining()) {
      if (f.isDone()) {
        throw new IOException("fetch of blob " + f.blob.spec.digest() + " was aborted");
      }
      int r;
      if (ch != null) {
        r = ch.read(dst);
      } else {
        r = in.read(staging, 0, Math.min(staging.length, dst.remaining()));
        if (r > 0) {
          dst.put(staging, 0, r);
        }
      }
      if (r < 0) {
        throw new EOFException("upstream ended early for blob " + f.blob.spec.digest()
            + (at >= 0 ? " at offset " + (at + dst.position()) : ""));
      }
      f.progress();
      cache.anyProgress = f.lastProgress;
      if (at >= 0) {
        bytesFetched.add(r);
      }
    }
    dst.flip();
  }
}
