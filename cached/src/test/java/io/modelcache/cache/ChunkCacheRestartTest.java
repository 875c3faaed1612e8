package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a cache keeps across a stop: a clean one fetches nothing, an unclean one re-checks every chunk. */
class ChunkCacheRestartTest extends ChunkCacheFixture {
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
  void uncleanRestartDropsCorruptChunkAndRefetchesIt() throws IOException {
    byte[] data = random(SIZE, 16);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    cacheThenCrash(spec, data);
    damage(spec, 3L * CS + 100, new byte[] {1, 2, 3, 4}); // chunk 3's bytes damaged on disk
    FakeFetcher up = new FakeFetcher(data);
    ChunkCache again = open(direct());
    assertEquals(SIZE - CS, again.usedBytes());
    assertEquals(1, again.corruptChunks());
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
}
