package io.modelcache.cache;

import static io.modelcache.cache.ChunkCacheFixture.random;
import static io.modelcache.cache.ChunkCacheFixture.read;
import static io.modelcache.cache.ChunkCacheFixture.readAll;
import static io.modelcache.cache.ChunkCacheFixture.slice;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Large requests ended mid-body: by a cut connection, by the fetch timeout, by closing the last
 * handle on the blob (an unmount during read-ahead or fill). In every case the chunks that arrived
 * whole are served with exact bytes, the chunk in progress (and chunks held back for an unfinished
 * chunk-index granule) never becomes visible, not even after the cache is reopened from disk, and
 * the next read fetches from the first missing chunk.
 */
class CancelMidStreamTest {
  static final int CS = 64 << 10;
  /** One request for all 16 chunks; the cut lands in the middle of chunk 5. */
  static final int CHUNKS = 16;
  static final long SIZE = (long) CHUNKS * CS;
  static final long CUT = 5L * CS + CS / 2;

  @TempDir java.nio.file.Path dir;
  private final List<ChunkCache> caches = new ArrayList<>();
  private final List<ExecutorService> pools = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (ChunkCache c : caches) {
      c.close();
    }
    pools.forEach(ExecutorService::shutdownNow);
  }

  /** How the first stream ends once it has delivered {@link #CUT} bytes. */
  enum Cut { RESET, HANG }

  /**
   * An upstream whose first stream delivers {@code cutAfter} bytes, then fails (RESET) or blocks
   * until it is closed (HANG, bounded by 30 s); later streams are whole. Records every range.
   */
  static final class CuttingFetcher implements BlobFetcher {
    final byte[] blob;
    final long cutAfter;
    final Cut mode;
    final List<long[]> ranges = new CopyOnWriteArrayList<>();
    final AtomicInteger opens = new AtomicInteger();
    final CountDownLatch reachedCut = new CountDownLatch(1);
    final CountDownLatch closed = new CountDownLatch(1);

    CuttingFetcher(byte[] blob, long cutAfter, Cut mode) {
      this.blob = blob;
      this.cutAfter = cutAfter;
      this.mode = mode;
    }

    @Override
    public InputStream open(long off, long length) {
      ranges.add(new long[] {off, length});
      long end = length < 0 ? blob.length : Math.min(blob.length, off + length);
      boolean first = opens.getAndIncrement() == 0;
      return new InputStream() {
        long pos = off;
        volatile boolean isClosed;

        @Override
        public int read() throws IOException {
          byte[] one = new byte[1];
          return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int o, int len) throws IOException {
          if (isClosed) {
            throw new IOException("stream closed");
          }
          long limit = first ? Math.min(end, off + cutAfter) : end;
          if (pos >= limit) {
            if (!first || pos >= end) {
              return -1;
            }
            reachedCut.countDown();
            if (mode == Cut.RESET) {
              throw new IOException("connection reset by peer");
            }
            try {
              if (!closed.await(30, TimeUnit.SECONDS)) {
                throw new IOException("test stream was never closed");
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            throw new IOException("stream closed");
          }
          int n = (int) Math.min(len, limit - pos);
          System.arraycopy(blob, (int) pos, b, o, n);
          pos += n;
          return n;
        }

        @Override
        public void close() {
          isClosed = true;
          closed.countDown();
        }
      };
    }
  }

  private CacheConfig direct() {
    return CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(1L << 30)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10));
  }

  private CacheConfig pooled(Duration timeout) {
    ExecutorService pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    });
    pools.add(pool);
    return direct().withFetchExecutor(pool).withFetchTimeout(timeout);
  }

  private ChunkCache open(CacheConfig cfg) throws IOException {
    ChunkCache c = ChunkCache.open(cfg);
    caches.add(c);
    return c;
  }

  private ChunkCache reopen(ChunkCache c, CacheConfig cfg) throws IOException {
    c.close();
    caches.remove(c);
    return open(cfg);
  }

  private static void awaitLatch(CountDownLatch l, String what) throws InterruptedException {
    assertTrue(l.await(30, TimeUnit.SECONDS), what);
  }

  /** Only chunks [0, whole) are cached; every byte reads back exact, fetching from chunk {@code whole} on. */
  private static void assertOnlyWholeChunksThenExact(ChunkCache cache, BlobSpec spec, byte[] data, int whole,
      CuttingFetcher up) throws IOException {
    int before = up.ranges.size();
    try (BlobHandle h = cache.open(spec, up)) {
      assertEquals((long) whole * CS, h.cachedBytes(), "only chunks that arrived whole are cached");
      assertTrue(h.isCached(0, (long) whole * CS));
      assertFalse(h.isCached((long) whole * CS, 1), "the chunk cut mid-body is not visible");
      assertArrayEquals(slice(data, 0, whole * CS), read(h, 0, whole * CS), "whole chunks served without a fetch");
      assertEquals(before, up.ranges.size());
      assertArrayEquals(data, readAll(h, 3 * CS + 17));
      assertEquals((long) whole * CS, up.ranges.get(before)[0], "the next fetch starts at the first missing chunk");
    }
  }

  @Test
  void aConnectionCutMidRequestPublishesOnlyTheChunksThatArrivedWhole() throws Exception {
    byte[] data = random(SIZE, 41);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    CuttingFetcher up = new CuttingFetcher(data, CUT, Cut.RESET);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, up)) {
      IOException e = assertThrows(IOException.class, () -> read(h, 0, (int) SIZE));
      assertEquals("connection reset by peer", e.getMessage());
      assertArrayEquals(new long[] {0, SIZE}, up.ranges.get(0), "one request for the whole read");
      assertEquals(5L * CS, h.cachedBytes());
      assertEquals(0, cache.stats().inflightChunks());
    }
    cache = reopen(cache, direct());
    assertOnlyWholeChunksThenExact(cache, spec, data, 5, up);
  }

  @Test
  void aSilentUpstreamIsCutByTheFetchTimeoutAndOnlyWholeChunksStay() throws Exception {
    byte[] data = random(SIZE, 42);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    CuttingFetcher up = new CuttingFetcher(data, CUT, Cut.HANG);
    CacheConfig cfg = pooled(Duration.ofMillis(1500));
    ChunkCache cache = open(cfg);
    try (BlobHandle h = cache.open(spec, up)) {
      IOException e = assertThrows(IOException.class, () -> read(h, 0, (int) SIZE));
      assertEquals("timed out fetching blob " + spec.digest() + ": no progress from upstream for 1500 ms",
          e.getMessage());
      awaitLatch(up.closed, "the timeout closed the stream");
      assertEquals(5L * CS, h.cachedBytes());
      assertEquals(0, cache.stats().inflightChunks());
    }
    cache = reopen(cache, cfg);
    assertOnlyWholeChunksThenExact(cache, spec, data, 5, up);
  }

  @Test
  void closingTheLastHandleCancelsAFillMidStream() throws Exception {
    byte[] data = random(SIZE, 43);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    CuttingFetcher up = new CuttingFetcher(data, CUT, Cut.HANG);
    CacheConfig cfg = pooled(Duration.ofSeconds(20));
    ChunkCache cache = open(cfg);
    BlobHandle h = cache.open(spec, up);
    BlobHandle.Prefetch pf = h.prefetch(0, SIZE, FetchPriority.FILL);
    assertEquals(SIZE, pf.claimedBytes());
    awaitLatch(up.reachedCut, "the fill streamed up to the cut");
    assertEquals(0, cache.cancelledFetches());
    h.close();
    awaitLatch(up.closed, "closing the last handle closed the fill's stream");
    CompletionException done = assertThrows(CompletionException.class, () -> pf.done().join());
    assertInstanceOf(FetchCancelled.class, done.getCause());
    assertEquals("fetch of blob " + spec.digest() + " cancelled: no handle is open on it", done.getCause().getMessage());
    assertEquals(1, cache.cancelledFetches());
    assertEquals(0, cache.stats().inflightChunks());
    assertEquals(5L * CS, cache.list().getFirst().cachedBytes());
    cache = reopen(cache, cfg);
    assertOnlyWholeChunksThenExact(cache, spec, data, 5, up);
  }

  @Test
  void aQueuedFillIsDroppedWhenTheLastHandleCloses() throws Exception {
    byte[] data = random(SIZE, 44);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    CuttingFetcher up = new CuttingFetcher(data, CUT, Cut.HANG);
    // Two slots: one for fill, one kept for readers, so the second fill waits in the queue.
    ChunkCache cache = open(pooled(Duration.ofSeconds(20)).withMaxConcurrentFetches(2));
    BlobHandle h = cache.open(spec, up);
    BlobHandle.Prefetch running = h.prefetch(0, 8L * CS, FetchPriority.FILL);
    awaitLatch(up.reachedCut, "the first fill streamed up to the cut");
    BlobHandle.Prefetch queued = h.prefetch(8L * CS, 8L * CS, FetchPriority.FILL);
    assertEquals(8L * CS, queued.claimedBytes());
    h.close();
    assertThrows(CompletionException.class, () -> running.done().join());
    assertInstanceOf(FetchCancelled.class,
        assertThrows(CompletionException.class, () -> queued.done().join()).getCause());
    assertEquals(2, cache.cancelledFetches());
    assertEquals(1, up.opens.get(), "the queued fill never reached upstream");
    assertEquals(0, cache.stats().inflightChunks());
    // the slot was returned: a new mount's read is not stuck behind the cancelled fetches
    try (BlobHandle again = cache.open(spec, up)) {
      assertArrayEquals(data, readAll(again, 5 * CS + 1));
    }
  }

  @Test
  void aReaderThatRacedTheCancelFetchesTheChunkItself() throws Exception {
    byte[] data = random(SIZE, 45);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    CuttingFetcher up = new CuttingFetcher(data, CUT, Cut.HANG);
    ChunkCache cache = open(pooled(Duration.ofSeconds(20)));
    ExecutorService readers = Executors.newSingleThreadExecutor();
    pools.add(readers);
    try (BlobHandle h = cache.open(spec, up)) {
      h.prefetch(0, SIZE, FetchPriority.FILL);
      awaitLatch(up.reachedCut, "the fill streamed up to the cut");
      Future<byte[]> r = readers.submit(() -> read(h, 7L * CS, 2 * CS));
      for (int i = 0; i < 2000 && cache.stats().misses() < 2; i++) {
        Thread.sleep(5);
      }
      assertEquals(2, cache.stats().misses(), "the reader waits on the fill's chunks");
      // What a last-handle close does, while this reader (on a handle opened just then) waits.
      Blob b = cache.blobs.get(spec.key());
      assertEquals(1, FetchCancelled.cancelAll(b));
      assertArrayEquals(slice(data, 7L * CS, 2 * CS), r.get(30, TimeUnit.SECONDS));
      assertEquals(7L * CS, up.ranges.get(1)[0], "the reader fetched its own chunks");
    }
  }

  @Test
  void anIndexGranuleCutMidwayPublishesNoneOfItsChunks() throws Exception {
    byte[] data = random(SIZE, 46);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    // Granules of 4 cache chunks: chunks 4 and 5 arrive whole but granule [4, 8) never completes.
    ChunkDigests index = ChunkVerifierTest.digestsOf(data, 4 * CS);
    CuttingFetcher up = new CuttingFetcher(data, 6L * CS + 100, Cut.HANG);
    CacheConfig cfg = pooled(Duration.ofSeconds(20));
    ChunkCache cache = open(cfg);
    BlobHandle h = cache.open(spec, up);
    h.verifyWith(index);
    BlobHandle.Prefetch pf = h.prefetch(0, SIZE, FetchPriority.FILL);
    awaitLatch(up.reachedCut, "the fill streamed into chunk 6");
    assertEquals(4L * CS, h.cachedBytes(), "chunks 4 and 5 wait for their granule");
    h.close();
    assertInstanceOf(FetchCancelled.class, assertThrows(CompletionException.class, () -> pf.done().join()).getCause());
    assertEquals(4L * CS, cache.list().getFirst().cachedBytes());
    cache = reopen(cache, cfg);
    try (BlobHandle again = cache.open(spec, up)) {
      again.verifyWith(index);
      assertEquals(4L * CS, again.cachedBytes(), "after a restart too, nothing of the unfinished granule");
      assertArrayEquals(data, readAll(again, 2 * CS + 5));
      assertEquals(4L * CS, up.ranges.get(1)[0], "fetched again from the granule's start");
      assertTrue(again.chunkVerified());
    }
    assertEquals(0, cache.chunkChecks().failures());
  }

  @Test
  void aCompressedStreamCancelledMidwayKeepsOnlyWholeChunks() throws Exception {
    byte[] file = random(SIZE, 47);
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
      gz.write(file);
    }
    byte[] blob = bos.toByteArray();
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, Encoding.GZIP, 0, file.length);
    CuttingFetcher up = new CuttingFetcher(blob, blob.length / 2, Cut.HANG);
    CacheConfig cfg = pooled(Duration.ofSeconds(20));
    ChunkCache cache = open(cfg);
    BlobHandle h = cache.open(spec, up);
    BlobHandle.Prefetch pf = h.prefetch(0, SIZE, FetchPriority.FILL);
    awaitLatch(up.reachedCut, "the stream reached the cut");
    h.close();
    awaitLatch(up.closed, "closing the last handle closed the stream");
    assertInstanceOf(FetchCancelled.class, assertThrows(CompletionException.class, () -> pf.done().join()).getCause());
    long kept = cache.list().getFirst().cachedBytes();
    assertEquals(0, kept % CS, "whole chunks only: " + kept);
    assertTrue(kept < SIZE);
    cache = reopen(cache, cfg);
    try (BlobHandle again = cache.open(spec, up)) {
      assertEquals(kept, again.cachedBytes());
      assertArrayEquals(file, readAll(again, 3 * CS + 1));
      ChunkCacheFixture.awaitState(cache, spec.key(), BlobState.COMPLETE); // the stream verifies after the last chunk
    }
  }
}
