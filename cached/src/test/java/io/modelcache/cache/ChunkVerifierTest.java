package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkVerifierTest {
  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** The digests of {@code data} in granules: what an index built from these bytes says. */
  static ChunkDigests digestsOf(byte[] data, int granule) {
    int n = (data.length + granule - 1) / granule;
    byte[] all = new byte[n * 32];
    for (int g = 0; g < n; g++) {
      byte[] part = Arrays.copyOfRange(data, g * granule, Math.min(data.length, (g + 1) * granule));
      System.arraycopy(Digest.sha256().digest(part), 0, all, g * 32, 32);
    }
    return new ChunkDigests(granule, data.length, all);
  }

  private static ByteBuffer chunk(byte[] data, int i, int cs) {
    int from = i * cs;
    return ByteBuffer.wrap(data, from, Math.min(cs, data.length - from)).slice();
  }

  @Test
  void smallerGranulesPassOrFailPerCacheChunk() {
    int cs = 64 << 10;
    byte[] data = random(3 * cs + 5000, 1);
    ChunkVerifier v = new ChunkVerifier(digestsOf(data, 16 << 10), cs);
    v.restartAt(0);
    for (int i = 0; i < 4; i++) {
      assertEquals(ChunkVerifier.Result.PASS, v.feed(i, chunk(data, i, cs)), "chunk " + i);
      assertEquals(i, v.from());
    }
    byte[] bad = data.clone();
    bad[2 * cs + 40_000] ^= 1; // granule 2*4 + 2 = 10
    v.restartAt(2);
    assertEquals(ChunkVerifier.Result.FAIL, v.feed(2, chunk(bad, 2, cs)));
    assertEquals(2, v.from());
    assertEquals(10, v.failedGranule());
  }

  @Test
  void largerGranulesHoldTheirChunksUntilTheLastOne() {
    int cs = 64 << 10;
    byte[] data = random(9 * cs + 77, 2); // 10 cache chunks, granules of 4: 4 + 4 + 2
    ChunkVerifier v = new ChunkVerifier(digestsOf(data, 256 << 10), cs);
    assertEquals(4, v.alignDown(5));
    assertEquals(7, v.alignUp(5, 10));
    assertEquals(9, v.alignUp(9, 10));
    v.restartAt(0);
    for (int i = 0; i < 10; i++) {
      ChunkVerifier.Result r = v.feed(i, chunk(data, i, cs));
      boolean last = i == 3 || i == 7 || i == 9;
      assertEquals(last ? ChunkVerifier.Result.PASS : ChunkVerifier.Result.PENDING, r, "chunk " + i);
      if (last) {
        assertEquals(v.alignDown(i), v.from());
      }
    }
    byte[] bad = data.clone();
    bad[5 * cs] ^= (byte) 0x80;
    v.restartAt(4);
    for (int i = 4; i < 7; i++) {
      assertEquals(ChunkVerifier.Result.PENDING, v.feed(i, chunk(bad, i, cs)));
    }
    assertEquals(ChunkVerifier.Result.FAIL, v.feed(7, chunk(bad, 7, cs)));
    assertEquals(4, v.from());
    assertEquals(1, v.failedGranule());
    assertThrows(IllegalArgumentException.class, () -> v.restartAt(5), "a check starts at a granule");
  }

  @Test
  void equalSizesAndTheShortLastChunk() {
    int cs = 64 << 10;
    byte[] data = random(2 * cs + 1, 3);
    ChunkVerifier v = new ChunkVerifier(digestsOf(data, cs), cs);
    v.restartAt(0);
    assertEquals(ChunkVerifier.Result.PASS, v.feed(0, chunk(data, 0, cs)));
    assertEquals(ChunkVerifier.Result.PASS, v.feed(1, chunk(data, 1, cs)));
    assertEquals(ChunkVerifier.Result.PASS, v.feed(2, chunk(data, 2, cs)));
    assertThrows(IllegalStateException.class, () -> v.feed(0, chunk(data, 0, cs)), "in order only");
  }

  @Test
  void digestsMustFitTheirLength() {
    assertThrows(IllegalArgumentException.class, () -> new ChunkDigests(4096, 4097, new byte[32]));
    assertThrows(IllegalArgumentException.class, () -> new ChunkDigests(3000, 10, new byte[32]));
    assertEquals(0, new ChunkDigests(4096, 0, new byte[0]).granules());
  }
}
