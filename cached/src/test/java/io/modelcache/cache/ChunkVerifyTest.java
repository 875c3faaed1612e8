package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chunks checked against a chunk digest index before they are served: refetch, EIO, wrong index. */
class ChunkVerifyTest {
  static final int CS = 64 << 10;

  @TempDir Path dir;
  private final List<ChunkCache> caches = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (ChunkCache c : caches) {
      c.close();
    }
  }

  private ChunkCache open() throws IOException {
    ChunkCache c = ChunkCache.open(CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(1L << 30)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10)));
    caches.add(c);
    return c;
  }

  /**
   * Serves the blob, flipping the byte at {@code target} in the responses that hold it and that
   * {@code corrupt} picks (by how many responses held it before).
   */
  static final class Corrupting implements BlobFetcher {
    final byte[] blob;
    final long target;
    final IntPredicate corrupt;
    boolean atRest;
    final AtomicInteger opens = new AtomicInteger();
    final AtomicInteger hits = new AtomicInteger();

    Corrupting(byte[] blob, long target, IntPredicate corrupt) {
      this.blob = blob;
      this.target = target;
      this.corrupt = corrupt;
    }

    @Override
    public InputStream open(long off, long len) {
      opens.incrementAndGet();
      int l = len < 0 ? (int) (blob.length - off) : (int) Math.min(len, blob.length - off);
      byte[] copy = java.util.Arrays.copyOfRange(blob, (int) off, (int) off + l);
      if (target >= off && target < off + l && corrupt.test(hits.getAndIncrement())) {
        copy[(int) (target - off)] ^= (byte) (atRest ? 0x5a : 1 + hits.get()); // in flight: differs each time
      }
      return new ByteArrayInputStream(copy);
    }
  }

  private static byte[] readAll(BlobHandle h) throws IOException {
    return ChunkCacheFixture.readAll(h, 100_000);
  }

  @Test
  void aChunkDamagedInFlightIsFetchedAgainAndServedExact() throws IOException {
    byte[] data = ChunkVerifierTest.random(10 * CS + 999, 1);
    for (int granule : new int[] {16 << 10, CS, 256 << 10}) { // smaller, equal, larger than the cache's
      ChunkCache cache = open();
      Corrupting up = new Corrupting(data, 5L * CS + 17, n -> n < 3); // the first three responses lie
      BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
      try (BlobHandle h = cache.open(spec, up)) {
        h.verifyWith(ChunkVerifierTest.digestsOf(data, granule));
        assertTrue(h.chunkVerified());
        assertArrayEquals(data, readAll(h), "granule " + granule);
        assertTrue(h.isComplete(), "every chunk matched the index: verified without a whole-blob pass");
      }
      ChunkCheckStats s = cache.chunkChecks();
      assertEquals(3, s.failures(), "granule " + granule);
      assertEquals(3, s.refetches());
      assertEquals(0, s.indexRejected());
      cache.evict(spec.key());
      tearDown();
      caches.clear();
    }
  }

  @Test
  void aChunkThatStaysDamagedFailsItsReadsOnlyAndTheNextReadTriesAgain() throws IOException {
    byte[] data = ChunkVerifierTest.random(8 * CS, 2);
    boolean[] lie = {true};
    ChunkCache cache = open();
    Corrupting up = new Corrupting(data, 3L * CS + 5, n -> lie[0]);
    up.atRest = true; // the same wrong bytes every time: the whole blob is checked once
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      h.verifyWith(ChunkVerifierTest.digestsOf(data, CS));
      ModelCacheException e = assertThrows(ModelCacheException.class,
          () -> h.read(3L * CS, java.nio.ByteBuffer.allocate(100)));
      assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
      assertEquals("chunk 3 (65536 bytes) of blob " + Digest.of(data) + " failed verification against its chunk index "
          + CheckedIngest.MAX_ATTEMPTS + " times", e.getMessage());
      assertEquals(CheckedIngest.MAX_ATTEMPTS + 1, up.opens.get(), "bounded attempts, and one whole-blob check");
      assertArrayEquals(ChunkCacheFixture.slice(data, 4L * CS, 3 * CS), ChunkCacheFixture.read(h, 4L * CS, 3 * CS),
          "other chunks are served");
      lie[0] = false;
      assertArrayEquals(data, readAll(h), "the next read tries again");
    }
    assertEquals(CheckedIngest.MAX_ATTEMPTS, cache.chunkChecks().failures());
  }

  @Test
  void anIndexWrongForTheBlobIsDroppedForItOnce() throws IOException {
    byte[] data = ChunkVerifierTest.random(6 * CS, 3);
    byte[] other = data.clone();
    other[2 * CS + 1] ^= 1; // the index describes other bytes
    ChunkCache cache = open();
    Corrupting up = new Corrupting(data, -1, n -> false);
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      h.verifyWith(ChunkVerifierTest.digestsOf(other, 128 << 10));
      assertArrayEquals(data, readAll(h));
      assertTrue(!h.chunkVerified(), "index no longer used for this blob");
      h.verifyWith(ChunkVerifierTest.digestsOf(other, 128 << 10));
      assertTrue(!h.chunkVerified(), "and not taken up again");
      assertTrue(h.isComplete(), "verified against the layer digest instead");
    }
    ChunkCheckStats s = cache.chunkChecks();
    assertEquals(1, s.indexRejected());
    assertEquals(2, s.failures(), "two identical mismatches before the whole blob is checked");
  }

  @Test
  void aSequentialReaderFetchesEachByteOnceWhenIndexChunksSpanCacheChunks() throws IOException {
    byte[] data = ChunkVerifierTest.random(20 * CS + 1234, 5);
    ChunkCache cache = open();
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      h.verifyWith(ChunkVerifierTest.digestsOf(data, 4 * CS));
      for (long off = 0; off < data.length; off += 4096) { // page by page, as a kernel reader does
        assertArrayEquals(ChunkCacheFixture.slice(data, off, 4096), ChunkCacheFixture.read(h, off, 4096));
      }
      assertTrue(h.isComplete());
    }
    long fetched = up.ranges.stream().mapToLong(r -> r[1]).sum();
    assertEquals(data.length, fetched, "one fetch per index chunk, each byte once");
    assertEquals(6, up.opens.get());
  }

  @Test
  void digestsOfAnotherLengthAreRefused() throws IOException {
    byte[] data = ChunkVerifierTest.random(2 * CS, 4);
    ChunkCache cache = open();
    try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), new FakeFetcher(data))) {
      assertThrows(IllegalArgumentException.class,
          () -> h.verifyWith(ChunkVerifierTest.digestsOf(java.util.Arrays.copyOf(data, CS), CS)));
    }
  }
}
