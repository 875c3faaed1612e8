package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * No byte that failed verification is served: corrupt or flaky upstreams, tar members, compressed
 * layers, strict mode, chunk checksums, and upstreams that hang.
 */
class ChunkCacheIntegrityTest extends ChunkCacheFixture {
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
    // One instant for every access: LRU ties go by arrival, so which chunks leave does not hang on
    // where a millisecond ticks while the blob is read (a read in a later one moved chunk 0 back).
    ChunkCache cache = open(direct().withBudgetBytes(SIZE).withClock(() -> 1_000L));
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
          "17 of 18 chunks cached; dropped 1 corrupt chunk(s)", 1), r);
      int before = up.opens.get();
      assertArrayEquals(data, readAll(h, 200_000));
      assertEquals(before + 1, up.opens.get());
      assertTrue(h.isComplete());
      assertEquals(0, cache.stats().verifyFailures());
      assertEquals(1, cache.corruptChunks());
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
          "2 of 18 chunks cached; dropped 1 corrupt chunk(s)", 1), cache.verify(spec.key()));
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
}
