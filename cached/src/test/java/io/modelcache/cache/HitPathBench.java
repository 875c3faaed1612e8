package io.modelcache.cache;

import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a regular test: a rough hit-path number, printed, never asserted. Run with
 * {@code -Dtest=HitPathBench -Dmodelcache.bench=true}.
 */
@EnabledIfSystemProperty(named = "modelcache.bench", matches = "true")
class HitPathBench {
  @Test
  void hitThroughput(@TempDir Path dir) throws Exception {
    byte[] data = new byte[256 << 20];
    new Random(1).nextBytes(data);
    try (ChunkCache cache = ChunkCache.open(CacheConfig.defaults(dir).withBudgetBytes(4L << 30))) {
      for (int round = 0; round < 4; round++) {
        data[0] = (byte) round; // a new blob each round
        try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), new FakeFetcher(data))) {
          ByteBuffer buf = ByteBuffer.allocateDirect(128 << 10);
          long t0 = System.nanoTime();
          for (long off = 0; off < data.length; off += buf.capacity()) {
            buf.clear();
            h.read(off, buf);
          }
          double s = (System.nanoTime() - t0) / 1e9;
          System.out.printf("miss round %d: %.0f MB/s (128 KiB reads, in-memory upstream)%n", round, data.length / s / 1e6);
        }
      }
    }
    try (ChunkCache cache = ChunkCache.open(CacheConfig.defaults(dir).withBudgetBytes(4L << 30));
        BlobHandle h = cache.open(BlobSpec.raw(Digest.of(data), data.length), new FakeFetcher(data))) {
      ByteBuffer buf = ByteBuffer.allocateDirect(128 << 10);
      for (int round = 0; round < 5; round++) {
        long t0 = System.nanoTime();
        for (long off = 0; off < data.length; off += buf.capacity()) {
          buf.clear();
          h.read(off, buf);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("round %d: %.0f MB/s (128 KiB reads)%n", round, data.length / s / 1e6);
      }
    }
  }
}
