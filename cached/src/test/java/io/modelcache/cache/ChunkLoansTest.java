package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lending a cold read's chunks from memory (BlobHandle.lend): exact bytes, no fetch, pins held until closed. */
class ChunkLoansTest {
  static final int CS = 64 << 10;
  static final long SIZE = 5L * CS + 1_000;

  @TempDir java.nio.file.Path dir;
  private ChunkCache cache;

  @AfterEach
  void tearDown() throws IOException {
    if (cache != null) {
      cache.close();
    }
  }

  private ChunkCache open() throws IOException {
    cache = ChunkCache.open(CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(1L << 30)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10)));
    return cache;
  }

  private static byte[] bytes(HeldBytes held) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (ByteBuffer p : held.parts()) {
      assertTrue(p.isDirect(), "a part the kernel transport can write from");
      byte[] b = new byte[p.remaining()];
      p.duplicate().get(b);
      out.write(b, 0, b.length);
    }
    return out.toByteArray();
  }

  @Test
  void aRangeNotInTheCacheIsNotLentAndNothingIsFetchedForIt() throws IOException {
    byte[] data = ChunkCacheFixture.random(SIZE, 7);
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = open().open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      assertNull(h.lend(CS - 10, 100));
      assertEquals(0, up.ranges.size(), "a lend never fetches");
      assertNull(h.lend(SIZE, 10), "past the end: read() answers 0");
      assertNull(h.lend(0, 0));
    }
  }

  @Test
  void fetchedChunksAreLentExactlyAcrossAChunkBoundaryAndStayPinnedUntilClosed() throws IOException {
    byte[] data = ChunkCacheFixture.random(SIZE, 8);
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache c = open();
    try (BlobHandle h = c.open(BlobSpec.raw(Digest.of(data), data.length), up)) {
      h.prefetch(0, 3L * CS, FetchPriority.READ_AHEAD).done().join(); // as read-ahead does, ahead of the reader
      int fetched = up.ranges.size();
      Blob b = c.blobs.values().iterator().next();
      long hotBefore = c.hot.bytes();
      assertTrue(hotBefore >= 2L * CS, "fetched chunks wait in memory for their reader: " + hotBefore);
      HeldBytes held = h.lend(CS - 10, 100);
      assertNotNull(held);
      assertEquals(2, held.parts().length, "one part per chunk");
      assertEquals(100, held.length());
      assertArrayEquals(ChunkCacheFixture.slice(data, CS - 10, 100), bytes(held));
      assertEquals(fetched, up.ranges.size(), "served from memory, no fetch");
      assertEquals(1, b.pins.get(0), "chunk 0 pinned while lent");
      assertEquals(1, b.pins.get(1));
      held.close();
      held.close(); // a second close gives back nothing more
      assertEquals(0, b.pins.get(0));
      assertEquals(0, b.pins.get(1));
      // a whole chunk lent and given back counts as served: its memory goes, its bytes stay cached
      try (HeldBytes whole = h.lend(2L * CS, CS)) {
        assertArrayEquals(ChunkCacheFixture.slice(data, 2L * CS, CS), bytes(whole));
      }
      assertTrue(c.hot.bytes() <= hotBefore - CS, "served chunk left memory: " + c.hot.bytes());
      // cached but no longer in memory: not lent, and the read that serves it counts its hit once
      long hits = c.stats().hits();
      assertNull(h.lend(2L * CS, CS));
      assertEquals(hits, c.stats().hits(), "a declined lend counts no hit");
      assertArrayEquals(ChunkCacheFixture.slice(data, 2L * CS, CS), ChunkCacheFixture.read(h, 2L * CS, CS));
      // the end of the file: shorter, one part
      assertNull(h.lend(SIZE - 500, 1000), "the last chunk is not fetched yet");
      ChunkCacheFixture.read(h, SIZE - 500, 500);
      assertEquals(Digest.of(data), Digest.of(ChunkCacheFixture.readAll(h, 100_000)));
    }
  }
}
