package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The chunk cache's reads: exact bytes, fetch coalescing, the budget and eviction, and its disk modes. */
class ChunkCacheTest extends ChunkCacheFixture {
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
