package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChunkCacheTest {
  static final int CS = 64 << 10;
  static final long SIZE = 17L * CS + 12_345;

  @TempDir Path dir;
  private final List<ChunkCache> caches = new ArrayList<>();
  private final List<ExecutorService> pools = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (ChunkCache c : caches) {
      c.close();
    }
    pools.forEach(ExecutorService::shutdownNow);
  }

  static byte[] random(long size, long seed) {
    byte[] b = new byte[(int) size];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Fetches run on the reading thread: deterministic, including verification. */
  private CacheConfig direct() {
    return CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(1L << 30)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10));
  }

  private CacheConfig pooled() {
    ExecutorService pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    });
    pools.add(pool);
    return direct().withFetchExecutor(pool);
  }

  private ChunkCache open(CacheConfig cfg) throws IOException {
    ChunkCache c = ChunkCache.open(cfg);
    caches.add(c);
    return c;
  }

  private void close(ChunkCache c) throws IOException {
    c.close();
    caches.remove(c);
  }

  static byte[] read(BlobHandle h, long off, int len) throws IOException {
    ByteBuffer dst = ByteBuffer.allocate(len);
    int n = h.read(off, dst);
    return Arrays.copyOf(dst.array(), n);
  }

  static byte[] readAll(BlobHandle h, int piece) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long off = 0;
    while (true) {
      byte[] b = read(h, off, piece);
      if (b.length == 0) {
        return out.toByteArray();
      }
      out.write(b, 0, b.length);
      off += b.length;
    }
  }

  static byte[] slice(byte[] src, long off, int len) {
    int from = (int) Math.min(off, src.length);
    return Arrays.copyOfRange(src, from, (int) Math.min(src.length, off + len));
  }

  @Test
  void randomReadsReturnExactBytes() throws IOException {
    byte[] data = random(SIZE, 1);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      Random r = new Random(2);
      for (int i = 0; i < 1000; i++) {
        long off = r.nextLong(SIZE + 100);
        int len = r.nextInt(3 * CS);
        assertArrayEquals(slice(data, off, len), read(h, off, len), "read " + off + "+" + len);
      }
      assertEquals(Digest.of(data), Digest.of(readAll(h, 100_000)));
      assertTrue(h.isComplete());
      assertEquals(1.0, h.cachedFraction());
      assertEquals(SIZE, cache.usedBytes());
    }
  }

  @Test
  void chunkBoundariesAndLastPartialChunk() throws IOException {
    byte[] data = random(SIZE, 3);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), new FakeFetcher(data))) {
      assertArrayEquals(slice(data, CS - 1, 2), read(h, CS - 1, 2));
      assertArrayEquals(slice(data, CS, CS), read(h, CS, CS));
      assertArrayEquals(slice(data, 2L * CS, 1), read(h, 2L * CS, 1));
      assertArrayEquals(slice(data, 3L * CS - 1, 1), read(h, 3L * CS - 1, 1));
      assertArrayEquals(slice(data, 17L * CS, 20_000), read(h, 17L * CS, 20_000));
      assertEquals(12_345, read(h, 17L * CS, 20_000).length);
      assertArrayEquals(slice(data, SIZE - 1, 10), read(h, SIZE - 1, 10));
      assertEquals(0, read(h, SIZE, 10).length);
      assertEquals(0, read(h, SIZE + 5, 10).length);
      assertEquals(0, h.read(5, ByteBuffer.allocate(0)));
      ByteBuffer direct = ByteBuffer.allocateDirect(100).position(10);
      assertEquals(90, h.read(CS - 45, direct));
      byte[] got = new byte[90];
      direct.position(10).get(got);
      assertArrayEquals(slice(data, CS - 45, 90), got);
    }
  }

  @Test
  void zeroLengthFile() throws IOException {
    byte[] data = new byte[0];
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), 0), up)) {
      assertEquals(0, read(h, 0, 10).length);
      assertEquals(1.0, h.cachedFraction());
      assertTrue(h.isComplete());
      assertEquals(0, up.opens.get());
    }
  }

  @Test
  void concurrentReadersOfAMissingChunkCauseOneFetch() throws Exception {
    byte[] data = random(SIZE, 4);
    FakeFetcher up = new FakeFetcher(data);
    up.gate = new CountDownLatch(1);
    ChunkCache cache = open(pooled());
    int n = 8;
    ExecutorService readers = Executors.newFixedThreadPool(n);
    pools.add(readers);
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      List<Future<byte[]>> results = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        int off = 3 * CS + i * 100;
        results.add(readers.submit(() -> read(h, off, 1000)));
      }
      for (int i = 0; i < 2000 && cache.stats().misses() < n; i++) {
        Thread.sleep(5);
      }
      assertEquals(n, cache.stats().misses());
      assertEquals(1, cache.stats().inflightChunks());
      up.gate.countDown();
      for (int i = 0; i < n; i++) {
        assertArrayEquals(slice(data, 3 * CS + i * 100, 1000), results.get(i).get());
      }
      assertEquals(1, up.opens.get());
      assertEquals(0, cache.stats().inflightChunks());
    }
  }

  @Test
  void readAcrossFiveMissingChunksIsOneRangedFetch() throws IOException {
    byte[] data = random(SIZE, 5);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      long off = 2L * CS + 10;
      int len = 4 * CS;
      assertArrayEquals(slice(data, off, len), read(h, off, len));
      assertEquals(1, up.opens.get());
      assertArrayEquals(new long[] {2L * CS, 5L * CS}, up.ranges.get(0));
      assertEquals(5, cache.stats().misses());
      assertEquals(5L * CS, cache.stats().bytesFetched());
      // a read that has present chunks on both sides fetches only the gap
      assertArrayEquals(slice(data, 0, 8 * CS), read(h, 0, 8 * CS));
      assertEquals(3, up.opens.get());
      assertArrayEquals(new long[] {0, 2L * CS}, up.ranges.get(1));
      assertArrayEquals(new long[] {7L * CS, CS}, up.ranges.get(2));
    }
  }

  @Test
  void cleanRestartKeepsDataAndFetchesNothing() throws IOException {
    byte[] data = random(SIZE, 6);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      readAll(h, 50_000);
    }
    close(cache);
    assertTrue(Files.exists(dir.resolve("CLEAN")));
    assertArrayEquals(data, Files.readAllBytes(dir.resolve("blobs").resolve(spec.key())));

    FakeFetcher up = new FakeFetcher(data);
    ChunkCache again = open(direct());
    assertFalse(Files.exists(dir.resolve("CLEAN")));
    assertEquals(SIZE, again.usedBytes());
    try (BlobHandle h = again.open(spec, up)) {
      assertTrue(h.isComplete());
      assertArrayEquals(data, readAll(h, 70_000));
    }
    assertEquals(0, up.opens.get());
    List<CachedBlobInfo> list = again.list();
    assertEquals(1, list.size());
    assertEquals(BlobState.COMPLETE, list.get(0).state());
    assertEquals(SIZE, list.get(0).cachedBytes());
  }

  @Test
  void budgetSmallerThanBlobEvictsAndRefetches() throws IOException {
    byte[] data = random(SIZE, 7);
    FakeFetcher up = new FakeFetcher(data);
    long budget = 3L * CS;
    ChunkCache cache = open(direct().withBudgetBytes(budget));
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      for (int pass = 0; pass < 2; pass++) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long off = 0; off < SIZE; off += 10_000) {
          byte[] b = read(h, off, 10_000);
          out.write(b, 0, b.length);
          assertTrue(cache.usedBytes() <= budget, "used " + cache.usedBytes() + " > budget");
        }
        assertArrayEquals(data, out.toByteArray());
      }
      assertEquals(36, up.opens.get()); // 18 chunks, twice: nothing survived the sweep
      assertTrue(cache.stats().evictions() >= 30);
      assertFalse(h.isComplete());
    }
  }

  @Test
  void pinnedChunksAreNotEvictedUnderThem() throws IOException {
    byte[] data = random(SIZE, 8);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct().withBudgetBytes(CS));
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      // One read of 6 chunks with room for 1: all 6 stay (pinned) until the read has copied them.
      assertArrayEquals(slice(data, 100, 6 * CS - 200), read(h, 100, 6 * CS - 200));
      assertTrue(cache.usedBytes() <= CS);
      assertTrue(cache.stats().evictions() >= 5);
    }
  }

  /** Waits (bounded) for the blob's state: the refetch after a failed verification runs in the background. */
  static void awaitState(ChunkCache c, String key, BlobState want) throws IOException {
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (c.list().stream().noneMatch(b -> b.key().equals(key) && b.state() == want)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("blob " + key + " never became " + want + ": " + c.list());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void corruptUpstreamIsFetchedAgainThenFailedWhenTheSameBytesComeBack() throws IOException {
    byte[] data = random(SIZE, 9);
    byte[] bad = data.clone();
    bad[5 * CS + 7] ^= 1;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    String expected = "blob " + spec.digest() + " failed verification";
    ChunkCache cache = open(direct());
    FakeFetcher up = new FakeFetcher(bad);
    try (BlobHandle h = cache.open(spec, up)) {
      // The read that completes the blob triggers verification; it fails, and that read fails with it.
      IOException e = assertThrows(IOException.class, () -> readAll(h, (int) SIZE + 1));
      assertEquals(expected, e.getMessage());
      assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, ((ModelCacheException) e).kind());
      // Dropped and fetched again in the background: the same wrong digest again makes it FAILED.
      awaitState(cache, spec.key(), BlobState.FAILED);
      assertEquals(expected, assertThrows(IOException.class, () -> read(h, 0, 10)).getMessage());
      assertEquals(2, cache.stats().verifyFailures());
      assertEquals(1, cache.blobRefetches());
      assertEquals(0, cache.usedBytes());
      assertEquals(0, h.cachedBytes());
      // 'cache verify' reports it and clears it: with the upstream repaired, the next read is exact.
      VerifyResult v = cache.verify(spec.key());
      assertEquals(new VerifyResult(spec.key(), VerifyResult.Status.FAILED,
          expected + "; cleared: the next read fetches it again"), v);
      up.blob = data;
      assertArrayEquals(data, readAll(h, 200_000));
      assertTrue(h.isComplete());
    }
    close(cache);
    assertEquals(BlobState.COMPLETE, open(direct()).list().get(0).state());
  }

  @Test
  void aFailedBlobIsTriedAgainByANewStartOrARemount() throws IOException {
    byte[] data = random(SIZE, 19);
    byte[] bad = data.clone();
    bad[3] ^= 1;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(bad))) {
      assertThrows(IOException.class, () -> readAll(h, (int) SIZE + 1));
      awaitState(cache, spec.key(), BlobState.FAILED);
    }
    close(cache);
    ChunkCache again = open(direct());
    assertEquals(BlobState.FAILED, again.list().get(0).state(), "persisted");
    try (BlobHandle h = again.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(data, readAll(h, 200_000), "a new start tries again");
      assertTrue(h.isComplete());
    }
  }

  @Test
  void bytesDamagedOnceOnTheWayAreFetchedAgainAndTheBlobVerifies() throws IOException {
    byte[] data = random(SIZE, 29);
    byte[] bad = data.clone();
    bad[9 * CS + 1] ^= 4;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    java.util.concurrent.atomic.AtomicInteger opens = new java.util.concurrent.atomic.AtomicInteger();
    BlobFetcher up = (off, len) -> { // the damage was in transit: only the first response has it
      byte[] b = opens.getAndIncrement() == 0 ? bad : data;
      return new java.io.ByteArrayInputStream(b, (int) off, (int) (len < 0 ? b.length - off : len));
    };
    try (BlobHandle h = cache.open(spec, up)) {
      assertThrows(IOException.class, () -> readAll(h, (int) SIZE + 1));
      awaitState(cache, spec.key(), BlobState.COMPLETE);
      assertArrayEquals(data, readAll(h, 200_000));
      assertEquals(1, cache.stats().verifyFailures());
      assertEquals(1, cache.blobRefetches());
    }
  }

  /** Serves {@code bad} for the first {@code badOpens} opens, then {@code good}. */
  static BlobFetcher flaky(byte[] bad, byte[] good, int badOpens, java.util.concurrent.atomic.AtomicInteger opens) {
    return (off, len) -> {
      byte[] b = opens.getAndIncrement() < badOpens ? bad : good;
      return new java.io.ByteArrayInputStream(b, (int) off, (int) (len < 0 ? b.length - off : len));
    };
  }

  @Test
  void strictServesNoByteBeforeTheWholeBlobVerified() throws IOException {
    byte[] data = random(SIZE, 41);
    byte[] bad = data.clone();
    bad[12 * CS + 5] ^= 2;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    java.util.concurrent.atomic.AtomicInteger opens = new java.util.concurrent.atomic.AtomicInteger();
    try (BlobHandle h = cache.open(spec, flaky(bad, data, 1, opens))) {
      h.serveOnlyVerified(true);
      // The first 100 bytes: the whole blob is fetched, fails (damaged on the way), is fetched again, verifies.
      assertArrayEquals(slice(data, 0, 100), read(h, 0, 100));
      assertTrue(h.isComplete());
      assertEquals(1, cache.stats().verifyFailures());
      assertEquals(1, cache.blobRefetches());
      assertTrue(opens.get() >= 2, "fetched again: " + opens.get());
      assertArrayEquals(data, readAll(h, 100_000));
    }
  }

  @Test
  void strictWithAnUpstreamThatKeepsSendingWrongBytesServesNone() throws IOException {
    byte[] data = random(SIZE, 43);
    byte[] bad = data.clone();
    bad[1] ^= 2;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(bad))) {
      h.serveOnlyVerified(true);
      IOException e = assertThrows(IOException.class, () -> read(h, 0, 100));
      assertEquals("blob " + spec.digest() + " failed verification", e.getMessage());
      awaitState(cache, spec.key(), BlobState.FAILED);
      assertEquals(2, cache.stats().verifyFailures(), "the same wrong digest twice");
    }
  }

  @Test
  void strictCannotServeABlobLargerThanTheBudget() throws IOException {
    byte[] data = random(SIZE, 47);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct().withBudgetBytes(4 * CS));
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = cache.open(spec, up)) {
      h.serveOnlyVerified(true);
      IOException e = assertThrows(IOException.class, () -> read(h, 0, 100));
      assertEquals("blob " + spec.digest() + " (" + SIZE + " bytes) is larger than the cache budget (" + 4 * CS
          + " bytes): verify.unindexed: strict needs it whole in the cache", e.getMessage());
      assertEquals(0, up.opens.get());
      h.serveOnlyVerified(false);
      assertArrayEquals(slice(data, 0, 100), read(h, 0, 100), "lazy serves it");
    }
  }

  @Test
  void verifyDropsLocallyCorruptChunksInsteadOfFailingTheBlob() throws IOException {
    byte[] data = random(SIZE, 28);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, up)) {
      readAll(h, 200_000);
      assertEquals(VerifyResult.Status.VERIFIED, cache.verify(spec.key()).status());
      try (FileChannel ch = FileChannel.open(dir.resolve("blobs").resolve(spec.key()), StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(new byte[] {9}), 7L * CS + 5);
      }
      VerifyResult r = cache.verify(spec.key());
      assertEquals(new VerifyResult(spec.key(), VerifyResult.Status.INCOMPLETE,
          "17 of 18 chunks cached; dropped 1 corrupt chunk(s)"), r);
      int before = up.opens.get();
      assertArrayEquals(data, readAll(h, 200_000));
      assertEquals(before + 1, up.opens.get());
      assertTrue(h.isComplete());
      assertEquals(0, cache.stats().verifyFailures());
    }
  }

  @Test
  void aChunkHashedOnArrivalThenReplacedIsCaughtAtCompletion() throws IOException {
    byte[] data = random(SIZE, 31);
    byte[] bad = data.clone();
    bad[100] ^= 1;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, up)) {
      assertArrayEquals(slice(data, 0, 3 * CS), read(h, 0, 3 * CS)); // chunks 0-2, hashed as they arrive
      try (FileChannel ch = FileChannel.open(dir.resolve("blobs").resolve(spec.key()), StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(new byte[] {(byte) ~data[100]}), 100);
      }
      assertEquals(new VerifyResult(spec.key(), VerifyResult.Status.INCOMPLETE,
          "2 of 18 chunks cached; dropped 1 corrupt chunk(s)"), cache.verify(spec.key()));
      up.blob = bad; // upstream now serves a different chunk 0
      IOException e = assertThrows(IOException.class, () -> readAll(h, 200_000));
      assertEquals("blob " + spec.digest() + " failed verification", e.getMessage());
      assertEquals(1, cache.stats().verifyFailures());
    }
  }

  @Test
  void chunksArrivingInReverseOrderAreVerified() throws IOException {
    byte[] data = random(SIZE, 32);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      for (int i = 17; i >= 0; i--) {
        assertArrayEquals(slice(data, (long) i * CS, CS), read(h, (long) i * CS, CS));
      }
      assertTrue(h.isComplete());
      assertArrayEquals(data, readAll(h, 100_000));
    }
  }

  @Test
  void worksWithoutDirectIoAndWithoutTheMemoryTier() throws IOException {
    byte[] data = random(SIZE, 33);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct().withDirectIo(false).withMemoryBytes(0));
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(data, readAll(h, 50_000));
      assertTrue(h.isComplete());
    }
  }

  @Test
  void aCacheOnTmpfsFallsBackToBufferedWrites() throws IOException {
    Path shm = Path.of("/dev/shm");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm),
        "no writable /dev/shm (tmpfs, which refuses O_DIRECT) here");
    Path tmp = Files.createTempDirectory(shm, "modelcache-test");
    try {
      byte[] data = random(SIZE, 34);
      BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
      ChunkCache cache = open(direct().withDir(tmp));
      try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
        assertArrayEquals(data, readAll(h, 70_000));
        assertTrue(h.isComplete());
      }
      close(cache);
      assertArrayEquals(data, Files.readAllBytes(tmp.resolve("blobs").resolve(spec.key())));
    } finally {
      try (var files = Files.walk(tmp)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Test
  void aCompleteRawBlobFileIsTheBlobWithDirectIo() throws IOException {
    byte[] data = random(SIZE, 35);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(pooled());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      h.prefetch(0, SIZE, FetchPriority.FILL).done().join();
      assertArrayEquals(data, readAll(h, 1 << 20));
    }
    close(cache);
    assertArrayEquals(data, Files.readAllBytes(dir.resolve("blobs").resolve(spec.key())));
  }

  @Test
  void warmReadsFromDiskWithReadAheadReturnExactBytesTwice() throws Exception {
    byte[] data = random(SIZE, 36);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(pooled());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(data, readAll(h, 1 << 20));
    }
    close(cache);
    ChunkCache again = open(pooled());
    FakeFetcher none = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, none)) {
      assertArrayEquals(data, readAll(h, 128 << 10)); // chunks loaded from disk, the next ones ahead
      assertArrayEquals(data, readAll(h, 100_000)); // again: what memory dropped comes via the page cache
      for (int i = 0; i < 200; i++) {
        long off = (long) (i * 7919L * 131) % SIZE;
        assertArrayEquals(slice(data, off, 5000), read(h, off, 5000));
      }
    }
    assertEquals(0, none.opens.get());
  }
}
