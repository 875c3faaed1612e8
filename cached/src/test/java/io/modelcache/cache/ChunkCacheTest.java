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

  /** A tar-like layer: header, the file, then padding and the end-of-archive blocks. */
  static byte[] tarLike(byte[] file, int prefix, int suffix) {
    byte[] blob = new byte[prefix + file.length + suffix];
    byte[] hdr = random(prefix, 11);
    System.arraycopy(hdr, 0, blob, 0, prefix);
    System.arraycopy(file, 0, blob, prefix, file.length);
    return blob;
  }

  @Test
  void tarMemberIsVerifiedWithPrefixAndSuffixFromUpstream() throws IOException {
    byte[] file = random(SIZE, 12);
    byte[] blob = tarLike(file, 512, 1536);
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, Encoding.RAW, 512, file.length);
    FakeFetcher up = new FakeFetcher(blob);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, up)) {
      assertArrayEquals(file, readAll(h, 300_000));
      assertTrue(h.isComplete());
      assertTrue(up.ranges.stream().anyMatch(r -> r[0] == 0 && r[1] == 512));
      assertTrue(up.ranges.stream().anyMatch(r -> r[0] == 512 + SIZE && r[1] == 1536));
      assertEquals(VerifyResult.Status.VERIFIED, cache.verify(spec.key()).status());
    }
    assertEquals(VerifyResult.Status.CHUNKS_OK, cache.verify(spec.key()).status());

    byte[] badSuffix = blob.clone();
    badSuffix[blob.length - 1] ^= 1;
    BlobSpec spec2 = BlobSpec.of(Digest.of(badSuffix), blob.length, Encoding.RAW, 512, file.length);
    try (BlobHandle h = cache.open(spec2, new FakeFetcher(blob))) {
      IOException e = assertThrows(IOException.class, () -> readAll(h, 300_000));
      assertEquals("blob " + spec2.digest() + " failed verification", e.getMessage());
    }
  }

  static byte[] gzip(byte[] b) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(b);
    }
    return out.toByteArray();
  }

  private void compressedEndToEnd(Encoding enc) throws IOException {
    byte[] file = random(SIZE, 13);
    byte[] plain = tarLike(file, 512, 1024);
    byte[] blob = enc == Encoding.GZIP ? gzip(plain) : com.github.luben.zstd.Zstd.compress(plain, 3);
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, enc, 512, file.length);
    assertEquals(Digest.of(blob).hex() + "-512", spec.key());
    FakeFetcher up = new FakeFetcher(blob);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, up)) {
      assertArrayEquals(slice(file, 5 * CS + 3, 1000), read(h, 5 * CS + 3, 1000));
      assertEquals(1, up.opens.get());
      assertTrue(h.isComplete());
      Random r = new Random(14);
      for (int i = 0; i < 200; i++) {
        long off = r.nextLong(SIZE);
        int len = r.nextInt(2 * CS);
        assertArrayEquals(slice(file, off, len), read(h, off, len));
      }
      assertEquals(1, up.opens.get());
    }
    assertArrayEquals(file, Files.readAllBytes(dir.resolve("blobs").resolve(spec.key())));

    byte[] corrupt = blob.clone();
    corrupt[corrupt.length / 2] ^= 0x40;
    BlobSpec bad = BlobSpec.of(Digest.of(blob), blob.length, enc, 512, file.length);
    cache.evict(bad.key());
    try (BlobHandle h = cache.open(bad, new FakeFetcher(corrupt))) {
      assertThrows(IOException.class, () -> readAll(h, 300_000));
      assertEquals("blob " + bad.digest() + " failed verification",
          assertThrows(IOException.class, () -> read(h, 0, 1)).getMessage());
    }
  }

  @Test
  void gzipLayerEndToEnd() throws IOException {
    compressedEndToEnd(Encoding.GZIP);
  }

  @Test
  void zstdLayerEndToEnd() throws IOException {
    compressedEndToEnd(Encoding.ZSTD);
  }

  @Test
  void hungUpstreamFailsWithinTimeoutThenRecovers() throws Exception {
    byte[] data = random(SIZE, 15);
    FakeFetcher up = new FakeFetcher(data);
    CountDownLatch gate = new CountDownLatch(1);
    up.gate = gate;
    // Long enough that a loaded 2-vCPU machine never trips the watchdog on the reads that must succeed.
    ChunkCache cache = open(pooled().withFetchTimeout(Duration.ofMillis(2000)).withMaxConcurrentFetches(1));
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      IOException e = assertThrows(IOException.class, () -> read(h, 0, 100));
      assertEquals("timed out fetching blob " + Digest.of(data) + ": no progress from upstream for 2000 ms",
          e.getMessage());
      assertEquals(0, cache.stats().inflightChunks());
      // the slot of the hung fetch was returned: a later read is not stuck behind it
      up.gate = null;
      assertArrayEquals(slice(data, 0, 100), read(h, 0, 100));
      up.fail = true;
      IOException down = assertThrows(IOException.class, () -> read(h, 5L * CS, 100));
      assertEquals("upstream is down", down.getMessage());
      up.fail = false;
      assertArrayEquals(slice(data, 5L * CS, 100), read(h, 5L * CS, 100));
    } finally {
      gate.countDown();
    }
  }

  @Test
  void uncleanRestartDropsCorruptChunkAndRefetchesIt() throws IOException {
    byte[] data = random(SIZE, 16);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    cacheThenCrash(spec, data);
    damage(spec, 3L * CS + 100, new byte[] {1, 2, 3, 4}); // chunk 3's bytes damaged on disk
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache again = open(direct());
    assertEquals(SIZE - CS, again.usedBytes());
    try (BlobHandle h = again.open(spec, up)) {
      assertFalse(h.isComplete());
      assertArrayEquals(data, readAll(h, 100_000));
      assertEquals(1, up.opens.get());
      assertArrayEquals(new long[] {3L * CS, CS}, up.ranges.get(0));
      assertTrue(h.isComplete());
    }
  }

  @Test
  void uncleanRestartChecksAShortLastChunkToo() throws IOException {
    // Not a multiple of the file system's block size: the read-back (O_DIRECT where the cache writes
    // that way) reads whole blocks and must still check exactly the chunk's bytes.
    int size = 3 * CS + 12_345;
    byte[] data = random(size, 17);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    cacheThenCrash(spec, data);
    ChunkCache intact = open(direct());
    assertEquals(size, intact.usedBytes(), "an intact short last chunk passes its check");
    close(intact);
    Files.delete(dir.resolve("CLEAN"));
    damage(spec, 3L * CS + 12_000, new byte[] {9, 9, 9});
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache again = open(direct());
    assertEquals(3 * CS, again.usedBytes());
    try (BlobHandle h = again.open(spec, up)) {
      assertArrayEquals(data, readAll(h, 100_000));
      assertEquals(1, up.opens.get());
      assertArrayEquals(new long[] {3L * CS, 12_345}, up.ranges.get(0));
    }
  }

  /** Caches all of {@code data}, closes the cache, then removes the clean marker: as after a crash. */
  private void cacheThenCrash(BlobSpec spec, byte[] data) throws IOException {
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      readAll(h, 100_000);
    }
    close(cache);
    Files.delete(dir.resolve("CLEAN"));
  }

  /** Overwrites bytes of the blob's cache file at {@code offset}. */
  private void damage(BlobSpec spec, long offset, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(dir.resolve("blobs").resolve(spec.key()), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), offset);
    }
  }

  @Test
  void configValidation() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CacheConfig.defaults(dir).withChunkSize(100_000));
    assertEquals("chunk size must be a power of two from 64 KiB to 64 MiB, got 100000 bytes", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> CacheConfig.defaults(dir).withChunkSize(32 << 10));
    assertThrows(IllegalArgumentException.class, () -> CacheConfig.defaults(dir).withChunkSize(128 << 20));
    assertThrows(IllegalArgumentException.class, () -> CacheConfig.defaults(dir).withBudgetBytes(-1));
    assertThrows(IllegalArgumentException.class, () -> CacheConfig.defaults(dir).withFetchTimeout(Duration.ZERO));
    assertEquals(4 << 20, CacheConfig.defaults(dir).chunkSize());
    assertEquals(Duration.ofSeconds(30), CacheConfig.defaults(dir).fetchTimeout());
    assertEquals(8, CacheConfig.defaults(dir).maxConcurrentFetches());
  }

  @Test
  void chunkListenerCanRejectAChunk() throws IOException {
    byte[] data = random(SIZE, 17);
    ChunkCache cache = open(direct().withChunkListener((spec, chunk, bytes) -> {
      assertEquals(chunk == 17 ? 12_345 : CS, bytes.remaining());
      if (chunk == 2) {
        throw new IOException("chunk 2 rejected");
      }
    }));
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), new FakeFetcher(data))) {
      assertArrayEquals(slice(data, 0, 1000), read(h, 0, 1000));
      assertEquals("chunk 2 rejected", assertThrows(IOException.class, () -> read(h, 2L * CS, 10)).getMessage());
      assertEquals(CS, h.cachedBytes());
    }
  }

  @Test
  void concurrentRandomReadsUnderATightBudgetStayCorrect() throws Exception {
    byte[] a = random(SIZE, 21);
    byte[] b = random(SIZE / 2, 22);
    long budget = 5L * CS;
    ChunkCache cache = open(pooled().withBudgetBytes(budget).withMaxConcurrentFetches(2));
    ExecutorService readers = Executors.newFixedThreadPool(4);
    pools.add(readers);
    try (BlobHandle ha = cache.open(BlobSpec.raw(Digest.of(a), a.length), new FakeFetcher(a));
        BlobHandle hb = cache.open(BlobSpec.raw(Digest.of(b), b.length), new FakeFetcher(b))) {
      List<Future<Integer>> jobs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        long seed = 100 + t;
        jobs.add(readers.submit(() -> {
          Random r = new Random(seed);
          for (int i = 0; i < 300; i++) {
            boolean first = r.nextBoolean();
            byte[] src = first ? a : b;
            BlobHandle h = first ? ha : hb;
            long off = r.nextLong(src.length);
            int len = 1 + r.nextInt(CS + CS / 2);
            assertArrayEquals(slice(src, off, len), read(h, off, len), "read " + off + "+" + len);
            if (i % 50 == 0) {
              h.prefetch(off + len, 2L * CS);
            }
          }
          return 0;
        }));
      }
      for (Future<Integer> j : jobs) {
        j.get();
      }
      for (int i = 0; i < 2000 && cache.stats().inflightChunks() > 0; i++) {
        Thread.sleep(5); // let background prefetches finish
      }
      ha.read(0, ByteBuffer.allocate(1)); // one more read runs a final eviction pass
      assertTrue(cache.usedBytes() <= budget, "used " + cache.usedBytes());
      long listed = cache.list().stream().mapToLong(CachedBlobInfo::cachedBytes).sum();
      assertEquals(listed, cache.usedBytes());
      assertTrue(cache.stats().evictions() > 0);
    }
  }

  @Test
  void prefetchFillsChunksInTheBackground() throws Exception {
    byte[] data = random(SIZE, 23);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      h.prefetch(CS, 3L * CS);
      assertEquals(3L * CS, h.cachedBytes());
      assertEquals(1, up.opens.get());
      assertArrayEquals(slice(data, CS, 3 * CS), read(h, CS, 3 * CS));
      assertEquals(1, up.opens.get());
      assertEquals(3, cache.stats().hits());
    }
  }

  @Test
  void holePunchingFreesARangeWithoutChangingTheSize() throws IOException {
    Path f = dir.resolve("sparse");
    byte[] data = random(4 * CS, 24);
    Files.write(f, data);
    assertTrue(HolePuncher.punch(f, CS, CS), "fallocate(PUNCH_HOLE) should work on the test filesystem");
    byte[] after = Files.readAllBytes(f);
    assertEquals(data.length, after.length);
    assertArrayEquals(new byte[CS], Arrays.copyOfRange(after, CS, 2 * CS));
    assertArrayEquals(Arrays.copyOfRange(data, 2 * CS, 4 * CS), Arrays.copyOfRange(after, 2 * CS, 4 * CS));
  }

  @Test
  void hungCompressedUpstreamFailsWithinTimeout() throws Exception {
    byte[] file = random(SIZE, 25);
    byte[] blob = gzip(file);
    FakeFetcher up = new FakeFetcher(blob);
    CountDownLatch gate = new CountDownLatch(1);
    up.gate = gate;
    // Long enough that a loaded 2-vCPU machine never trips the watchdog on the reads that must succeed.
    ChunkCache cache = open(pooled().withFetchTimeout(Duration.ofMillis(2000)));
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, Encoding.GZIP, 0, file.length);
    try (BlobHandle h = cache.open(spec, up)) {
      IOException e = assertThrows(IOException.class, () -> read(h, 3L * CS, 10));
      assertTrue(e.getMessage().startsWith("timed out fetching blob "), e.getMessage());
      up.gate = null;
      assertArrayEquals(file, readAll(h, 100_000));
    } finally {
      gate.countDown();
    }
  }

  @Test
  void chunksOfAVerifiedBlobMustMatchTheirChecksumWhenRefetched() throws IOException {
    byte[] data = random(SIZE, 26);
    byte[] other = random(4L * CS, 27);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct().withBudgetBytes(SIZE));
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(data, readAll(h, 200_000));
      assertTrue(h.isComplete());
    }
    // reading another blob pushes the oldest chunks (0..3 and part of 4) out
    try (BlobHandle o = cache.open(BlobSpec.raw(Digest.of(other), other.length), new FakeFetcher(other))) {
      assertArrayEquals(other, readAll(o, 200_000));
    }
    byte[] tampered = data.clone();
    tampered[10] ^= 1;
    String expected = "chunk 0 of blob " + spec.digest() + " does not match the checksum recorded when the blob was verified";
    try (BlobHandle h = cache.open(spec, new FakeFetcher(tampered))) {
      assertFalse(h.isComplete());
      assertEquals(expected, assertThrows(IOException.class, () -> read(h, 0, 100)).getMessage());
    }
    close(cache);
    ChunkCache again = open(direct().withBudgetBytes(SIZE));
    try (BlobHandle h = again.open(spec, new FakeFetcher(tampered))) {
      assertEquals(expected, assertThrows(IOException.class, () -> read(h, 0, 100)).getMessage());
    }
    try (BlobHandle h = again.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(data, readAll(h, 200_000));
      assertTrue(h.isComplete());
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
