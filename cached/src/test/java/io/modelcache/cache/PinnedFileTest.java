package io.modelcache.cache;

import static io.modelcache.cache.ChunkCacheFixture.random;
import static io.modelcache.cache.ChunkCacheFixture.read;
import static io.modelcache.cache.ChunkCacheFixture.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cache files handed out for passthrough ({@link BlobHandle#pinFile()}): only for complete, verified
 * blobs, held byte-exact under eviction pressure while open, released on close. Fetches and
 * verification run on the reading thread and the clock is a counter, so every run is the same.
 */
class PinnedFileTest {
  static final int CS = 64 << 10;
  static final long SIZE = 9L * CS + 4_321;

  @TempDir Path dir;
  private final AtomicLong now = new AtomicLong(1_000);
  private final List<ChunkCache> caches = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (ChunkCache c : caches) {
      c.close();
    }
  }

  private ChunkCache open(long budget) throws IOException {
    ChunkCache c = ChunkCache.open(CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(budget)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10)).withClock(now::incrementAndGet));
    caches.add(c);
    return c;
  }

  private Path file(BlobSpec s) {
    return dir.resolve("blobs").resolve(s.key());
  }

  @Test
  void onlyACompleteVerifiedBlobIsPinned() throws IOException {
    byte[] data = random(SIZE, 1);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(1L << 30);
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      assertTrue(h.pinFile().isEmpty(), "nothing cached yet");
      read(h, 0, 3 * CS);
      assertTrue(h.pinFile().isEmpty(), "partly cached");
      assertArrayEquals(data, readAll(h, 100_000));
      assertTrue(h.isComplete());
      PinnedFile p = h.pinFile().orElseThrow();
      assertEquals(file(spec), p.path());
      assertEquals(SIZE, p.length());
      assertArrayEquals(data, Files.readAllBytes(p.path()));
      assertEquals(1, cache.pinnedFiles());
      assertEquals(SIZE, cache.pinnedBytes());
      PinnedFile second = h.pinFile().orElseThrow();
      assertEquals(2, cache.pinnedFiles());
      p.close();
      p.close(); // idempotent
      assertTrue(p.isClosed());
      assertEquals(1, cache.pinnedFiles());
      second.close();
      assertEquals(0, cache.pinnedFiles());
      assertEquals(0, cache.pinnedBytes());
    }
  }

  @Test
  void aBlobThatFailedVerificationIsNeverPinned() throws IOException {
    byte[] data = random(SIZE, 2);
    byte[] bad = data.clone();
    bad[4 * CS + 1] ^= 1;
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(1L << 30);
    try (BlobHandle h = cache.open(spec, new FakeFetcher(bad))) {
      assertEquals("blob " + spec.digest() + " failed verification",
          assertThrows(IOException.class, () -> readAll(h, 100_000)).getMessage());
      assertTrue(h.pinFile().isEmpty(), "dropped, being fetched again");
      // The refetch brings the same wrong bytes: FAILED (see ChunkCacheIntegrityTest), and still never pinned.
      ChunkCacheFixture.awaitState(cache, spec.key(), BlobState.FAILED);
      assertTrue(h.pinFile().isEmpty());
      assertEquals(0, cache.pinnedFiles());
    }
  }

  @Test
  void allChunksPresentButNotYetVerifiedIsNotPinnedUntilVerified() throws IOException {
    byte[] member = random(SIZE, 3);
    byte[] blob = ChunkCacheFixture.tarLike(member, 512, 1536);
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, Encoding.RAW, 512, member.length);
    FakeFetcher up = new FakeFetcher(blob);
    BlobFetcher noHeader = new BlobFetcher() { // the tar header cannot be fetched: the member stays unverified
      @Override
      public InputStream open(long off, long len) throws IOException {
        if (off == 0) {
          throw new IOException("header unavailable");
        }
        return up.open(off, len);
      }
    };
    ChunkCache cache = open(1L << 30);
    try (BlobHandle h = cache.open(spec, noHeader)) {
      assertArrayEquals(member, readAll(h, 100_000)); // served lazily, as ever
      assertEquals(SIZE, h.cachedBytes());
      assertFalse(h.isComplete());
      assertTrue(h.pinFile().isEmpty(), "every chunk present, digest not checked: no pin");
    }
    try (BlobHandle h = cache.open(spec, up)) { // a handle with a working upstream verifies it
      assertTrue(h.isComplete());
      PinnedFile p = h.pinFile().orElseThrow();
      assertArrayEquals(member, Files.readAllBytes(p.path()), "a tar member's cache file is the member");
      p.close();
    }
  }

  @Test
  void aBlobVerifiedChunkByChunkAgainstItsIndexIsPinnedAndOneThatFailsItsIndexIsNot() throws IOException {
    byte[] data = random(SIZE, 4);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(1L << 30);
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      h.verifyWith(ChunkVerifierTest.digestsOf(data, CS));
      assertArrayEquals(data, readAll(h, 100_000));
      assertTrue(h.isComplete());
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertArrayEquals(data, Files.readAllBytes(p.path()));
      }
    }
    byte[] other = random(SIZE, 5);
    BlobSpec spec2 = BlobSpec.raw(Digest.of(other), other.length);
    ChunkVerifyTest.Corrupting liar = new ChunkVerifyTest.Corrupting(other, 2L * CS + 9, n -> true);
    try (BlobHandle h = cache.open(spec2, liar)) {
      h.verifyWith(ChunkVerifierTest.digestsOf(other, CS));
      assertThrows(IOException.class, () -> readAll(h, 100_000));
      assertTrue(h.pinFile().isEmpty());
    }
  }

  @Test
  void aDecompressedLayerFileIsPinnedAsTheFile() throws IOException {
    byte[] member = random(SIZE, 6);
    byte[] blob = ChunkCacheFixture.gzip(ChunkCacheFixture.tarLike(member, 512, 1024));
    BlobSpec spec = BlobSpec.of(Digest.of(blob), blob.length, Encoding.GZIP, 512, member.length);
    ChunkCache cache = open(1L << 30);
    try (BlobHandle h = cache.open(spec, new FakeFetcher(blob))) {
      read(h, 0, 10);
      assertTrue(h.isComplete(), "a compressed layer is streamed and verified whole");
      try (PinnedFile p = h.pinFile().orElseThrow()) {
        assertArrayEquals(member, Files.readAllBytes(p.path()));
        assertEquals(member.length, p.length());
      }
    }
  }

  @Test
  void pinnedBlobsSurviveABudgetSmallerThanTheModelByteExactAndUnpinReleasesThem() throws IOException {
    byte[][] files = new byte[5][];
    BlobSpec[] specs = new BlobSpec[5];
    FakeFetcher[] ups = new FakeFetcher[5];
    for (int i = 0; i < 5; i++) {
      files[i] = random(SIZE, 10 + i);
      specs[i] = BlobSpec.raw(Digest.of(files[i]), files[i].length);
      ups[i] = new FakeFetcher(files[i]);
    }
    long budget = 2 * SIZE + 3L * CS; // the model is 5 × SIZE
    ChunkCache cache = open(budget);
    List<BlobHandle> hs = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      hs.add(cache.open(specs[i], ups[i]));
    }
    try {
      assertArrayEquals(files[0], readAll(hs.get(0), 100_000));
      assertArrayEquals(files[1], readAll(hs.get(1), 100_000));
      PinnedFile p0 = hs.get(0).pinFile().orElseThrow();
      PinnedFile p1 = hs.get(1).pinFile().orElseThrow();
      assertEquals(2 * SIZE, cache.pinnedBytes());
      int opens0 = ups[0].opens.get();
      int opens1 = ups[1].opens.get();
      // The other three stream through what is left of the budget, twice over.
      for (int pass = 0; pass < 2; pass++) {
        for (int i = 2; i < 5; i++) {
          assertArrayEquals(files[i], readAll(hs.get(i), 50_000), "file " + i + " pass " + pass);
          assertTrue(cache.usedBytes() <= budget, "used " + cache.usedBytes() + " > budget " + budget);
        }
      }
      assertTrue(cache.stats().evictions() > 0);
      long skipped = cache.stats().evictionsSkipped();
      assertTrue(skipped >= 10, "the pinned files' 20 chunks were at the head of the LRU: skipped " + skipped);
      assertArrayEquals(files[0], Files.readAllBytes(p0.path()), "no hole punched in a pinned file");
      assertArrayEquals(files[1], Files.readAllBytes(p1.path()));
      assertEquals(SIZE, hs.get(0).cachedBytes());
      assertEquals(SIZE, hs.get(1).cachedBytes());
      assertTrue(hs.get(0).isComplete() && hs.get(1).isComplete());
      assertEquals(opens0, ups[0].opens.get(), "a pinned file is never fetched again");
      assertEquals(opens1, ups[1].opens.get());
      assertEquals(2 * SIZE, cache.pinnedBytes());

      p0.close();
      assertEquals(SIZE, cache.pinnedBytes());
      // Once released, file 0 is just another file: it was used last, so it goes after the others.
      for (int pass = 0; pass < 2; pass++) {
        for (int i = 2; i < 5; i++) {
          assertArrayEquals(files[i], readAll(hs.get(i), 50_000));
        }
      }
      assertTrue(hs.get(0).cachedBytes() < SIZE, "unpinned file 0 was evicted");
      assertFalse(hs.get(0).isComplete());
      assertTrue(hs.get(0).pinFile().isEmpty(), "no longer complete: no pin");
      assertEquals(SIZE, hs.get(1).cachedBytes(), "file 1 is still pinned");
      assertArrayEquals(files[1], Files.readAllBytes(p1.path()));
      assertArrayEquals(files[0], readAll(hs.get(0), 100_000), "file 0 is fetched again, exact");
      p1.close();
      assertEquals(0, cache.pinnedBytes());
      assertTrue(cache.usedBytes() <= budget);
    } finally {
      hs.forEach(BlobHandle::close);
    }
  }

  @Test
  void aPinOutlivesItsHandleAndKeepsAnExplicitEvictAway() throws IOException {
    byte[] data = random(SIZE, 20);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(1L << 30);
    PinnedFile p;
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      readAll(h, 100_000);
      p = h.pinFile().orElseThrow();
    }
    ModelCacheException busy = assertThrows(ModelCacheException.class, () -> cache.evict(spec.key()));
    assertEquals("cannot evict blob " + spec.key() + ": it is in use by 1 open handle(s)", busy.getMessage());
    assertArrayEquals(data, Files.readAllBytes(p.path()));
    p.close();
    cache.evict(spec.key());
    assertFalse(Files.exists(p.path()));
    BlobHandle closed = cache.open(spec, new FakeFetcher(data));
    closed.close();
    assertTrue(closed.pinFile().isEmpty(), "a closed handle pins nothing");
  }

  @Test
  void aChunkFoundCorruptOnDiskIsDroppedEvenUnderAPinAndComesBackExact() throws IOException {
    byte[] data = random(SIZE, 21);
    BlobSpec spec = BlobSpec.raw(Digest.of(data), data.length);
    ChunkCache cache = open(1L << 30);
    FakeFetcher up = new FakeFetcher(data);
    try (BlobHandle h = cache.open(spec, up)) {
      readAll(h, 100_000);
      int opensBefore = up.opens.get();
      PinnedFile p = h.pinFile().orElseThrow();
      try (FileChannel ch = FileChannel.open(p.path(), StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(new byte[] {(byte) ~data[3 * CS + 5]}), 3 * CS + 5);
      }
      VerifyResult r = cache.verify(spec.key());
      assertEquals(VerifyResult.Status.VERIFIED, r.status(), r.detail());
      assertEquals(1, r.damagedChunks(), "reported although the chunk is back already");
      assertTrue(r.detail().endsWith("; dropped 1 corrupt chunk(s) (fetched again at once: the file is in use)"), r.detail());
      assertEquals(1, cache.corruptChunks());
      assertEquals(1, up.opens.get() - opensBefore, "the kernel reads the file: the chunk came back without a read");
      assertArrayEquals(new long[] {3L * CS, CS}, up.ranges.get(up.ranges.size() - 1));
      assertArrayEquals(data, Files.readAllBytes(p.path()));
      assertArrayEquals(data, readAll(h, 100_000));
      p.close();
    }
  }
}
