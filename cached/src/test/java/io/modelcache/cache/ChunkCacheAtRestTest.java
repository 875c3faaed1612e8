package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Bytes at rest after a clean restart (which reads nothing back at start): the first read of a chunk
 * from disk checks it, and passthrough waits for a read-back of the whole file. The fixture's fetches
 * and background work run on the calling thread, so the read-back has finished when pinFile returns.
 */
class ChunkCacheAtRestTest extends ChunkCacheFixture {
  private BlobSpec cacheAndStop(byte[] data) throws IOException {
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      readAll(h, 100_000);
      assertTrue(h.pinFile().isPresent(), "written by this process: passthrough at once");
      h.pinFile().get().close();
    }
    close(cache);
    return spec;
  }

  @Test
  void aChunkDamagedWhileStoppedIsFoundByTheFirstReadAndFetchedAgain() throws IOException {
    byte[] data = random(SIZE, 41);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, 5L * CS + 7, new byte[] {9, 9, 9});
    ChunkCache again = open(direct());
    assertEquals(0, again.corruptChunks(), "a clean start reads nothing back");
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      assertArrayEquals(data, readAll(h, 50_000));
      assertArrayEquals(slice(data, 5L * CS, 300), read(h, 5L * CS, 300), "and again, now from the new copy");
    }
    assertEquals(1, again.corruptChunks());
    assertEquals(1, up.opens.get());
    assertArrayEquals(new long[] {5L * CS, CS}, up.ranges.get(0), "only the damaged chunk is fetched again");
  }

  @Test
  void passthroughWaitsForTheReadBackAfterARestart() throws IOException {
    byte[] data = random(SIZE, 42);
    BlobSpec spec = cacheAndStop(data);
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      assertTrue(h.isComplete());
      assertTrue(h.pinFile().isEmpty(), "not read back since the start: served by the daemon, read-back started");
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertEquals(SIZE, p.length());
      }
    }
    assertEquals(0, up.opens.get());
    assertEquals(0, again.corruptChunks());
  }

  @Test
  void theReadBackDropsADamagedChunkAndPassthroughComesOnceItIsFetchedAgain() throws IOException {
    byte[] data = random(SIZE, 43);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, SIZE - 10, new byte[] {1}); // the short last chunk
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      assertTrue(h.pinFile().isEmpty());
      assertEquals(1, again.corruptChunks(), "the read-back found it");
      assertFalse(h.isComplete());
      assertTrue(h.pinFile().isEmpty(), "incomplete now");
      assertArrayEquals(data, readAll(h, 100_000));
      assertTrue(h.isComplete());
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertEquals(SIZE, p.length());
      }
    }
    assertEquals(1, up.opens.get());
    assertArrayEquals(new long[] {17L * CS, SIZE - 17L * CS}, up.ranges.get(0));
  }

  @Test
  void aFileTheKernelReadsSinceBeforeTheRestartIsPinnedAtOnce() throws IOException {
    byte[] data = random(SIZE, 44);
    BlobSpec spec = cacheAndStop(data);
    ChunkCache again = open(direct());
    try (BlobHandle h = again.open(spec, new FakeFetcher(data)); PinnedFile p = h.pinFileInUse().orElseThrow()) {
      assertEquals(SIZE, p.length());
      assertTrue(h.pinFile().isPresent(), "its read-back ran meanwhile");
      h.pinFile().get().close();
    }
  }

  @Test
  void aReadOverManyDamagedChunksFetchesEachAgainAndReturnsTheSourceBytes() throws IOException {
    byte[] data = random(SIZE, 45);
    BlobSpec spec = cacheAndStop(data);
    for (int i = 2; i <= 6; i++) {
      damage(spec, i * (long) CS + 100, new byte[] {(byte) i});
    }
    ChunkCache again = open(direct());
    try (BlobHandle h = again.open(spec, new FakeFetcher(data))) {
      assertArrayEquals(slice(data, 2L * CS, 5 * CS), read(h, 2L * CS, 5 * CS), "one read over five damaged chunks");
    }
    assertEquals(5, again.corruptChunks());
  }

  @Test
  void damageElsewhereInTheFileIsDroppedBeforeTheWholeBlobIsHashed() throws IOException {
    byte[] data = random(SIZE, 46);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, 3L * CS + 1, new byte[] {1});
    damage(spec, 9L * CS + 1, new byte[] {1});
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      assertArrayEquals(slice(data, 3L * CS, 100), read(h, 3L * CS, 100));
      assertArrayEquals(data, readAll(h, 100_000));
      assertTrue(h.isComplete());
    }
    assertEquals(2, again.corruptChunks());
    assertEquals(0, again.verifyFailures.sum(), "chunk 9's damage did not fail the whole blob");
    assertEquals(0, again.blobRefetches());
    assertEquals(2, up.opens.get(), "chunks 3 and 9, nothing else");
  }

  @Test
  void aStaleCheckOfAnOldCopyDoesNotDropTheCopyFetchedSince() throws IOException {
    byte[] data = random(SIZE, 47);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, 4L * CS, new byte[] {7});
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      Blob b = again.blobs.get(spec.key());
      int seenByAStaleCheck = b.gen.get(4);
      assertArrayEquals(slice(data, 4L * CS, CS), read(h, 4L * CS, CS), "found damaged and fetched again");
      assertFalse(again.eviction.dropDamaged(b, 4, seenByAStaleCheck), "that check read the damaged copy, not this one");
      assertTrue(b.isPresent(4));
      assertEquals(1, again.corruptChunks());
      assertEquals(1, up.opens.get());
    }
  }

  @Test
  void aDamagedChunkOfAFileTheKernelReadsIsFetchedAgainWithoutARead() throws IOException {
    byte[] data = random(SIZE, 48);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, 6L * CS + 5, new byte[] {1, 2});
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up); PinnedFile p = h.pinFileInUse().orElseThrow()) {
      assertEquals(1, again.corruptChunks(), "its read-back ran first");
      assertEquals(1, up.opens.get(), "and the chunk was fetched again with no read asking for it");
      assertArrayEquals(data, java.nio.file.Files.readAllBytes(p.path()), "the file the kernel reads is whole again");
    }
  }

  @Test
  void aChunkDroppedAtAnUncleanStartIsFetchedAgainForAFileTheKernelReads() throws IOException {
    byte[] data = random(SIZE, 49);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    cacheThenCrash(spec, data);
    damage(spec, 11L * CS, new byte[] {3});
    ChunkCache again = open(direct());
    assertEquals(1, again.corruptChunks(), "the start after a crash read everything back");
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up); PinnedFile p = h.pinFileInUse().orElseThrow()) {
      assertEquals(1, up.opens.get(), "the kernel reads it: fetched at once, no read asked");
      assertArrayEquals(new long[] {11L * CS, CS}, up.ranges.get(0));
      assertArrayEquals(data, java.nio.file.Files.readAllBytes(p.path()));
      assertTrue(h.isComplete(), "and verified again");
    }
  }

  @Test
  void aBlobCompletedThroughTheChunkIndexIsStillCompleteAfterACleanRestart() throws IOException {
    byte[] data = random(SIZE, 50);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      h.verifyWith(ChunkVerifierTest.digestsOf(data, CS));
      readAll(h, 100_000);
      assertTrue(h.isComplete());
    }
    close(cache);
    ChunkCache again = open(direct());
    try (BlobHandle h = again.open(spec, new FakeFetcher(data))) {
      h.verifyWith(ChunkVerifierTest.digestsOf(data, CS));
      assertTrue(h.isComplete(), "complete and verified before the restart");
    }
  }

  @Test
  void aBackgroundReadBackQueuedBeforeTheFirstOpenMakesThatOpenPassthrough() throws IOException {
    byte[] data = random(SIZE, 51);
    BlobSpec spec = cacheAndStop(data);
    ChunkCache again = open(direct());
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = again.open(spec, up)) {
      h.readBackInBackground(); // another file's open queued the mount's files; this executor runs it now
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertArrayEquals(data, java.nio.file.Files.readAllBytes(p.path()));
      }
    }
    assertEquals(0, up.opens.get());
    assertEquals(0, again.corruptChunks());
  }

  @Test
  void aFileReadWholeThroughTheDaemonIsCheckedAndItsNextOpenIsPassthrough() throws IOException {
    byte[] data = random(SIZE, 52);
    BlobSpec spec = cacheAndStop(data);
    ChunkCache again = open(direct().withFetchExecutor(r -> { })); // no background work runs
    try (BlobHandle h = again.open(spec, new FakeFetcher(data))) {
      assertTrue(h.pinFile().isEmpty(), "not checked since the start");
      assertArrayEquals(data, readAll(h, 100_000));
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertEquals(SIZE, p.length(), "every chunk was checked as the daemon loaded it");
      }
    }
  }

  @Test
  void aRepairOfAFileTheKernelReadsIsRetriedUntilTheRegistryAnswers() throws Exception {
    byte[] data = random(SIZE, 53);
    BlobSpec spec = cacheAndStop(data);
    damage(spec, 2L * CS + 3, new byte[] {5});
    ChunkCache again = open(direct().withFetchTimeout(java.time.Duration.ofSeconds(1)));
    FakeFetcher up = new FakeFetcher(data);
    up.fail = true;
    try (BlobHandle h = again.open(spec, up); PinnedFile p = h.pinFileInUse().orElseThrow()) {
      assertEquals(1, again.corruptChunks(), "found by the read-back; its fetch failed");
      assertFalse(h.isComplete());
      int failedOpens = up.opens.get();
      up.fail = false;
      long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
      while (!h.isComplete() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertTrue(h.isComplete(), "fetched again after a backoff, with no read asking");
      assertTrue(up.opens.get() > failedOpens);
      assertArrayEquals(data, java.nio.file.Files.readAllBytes(p.path()));
    }
  }
}
