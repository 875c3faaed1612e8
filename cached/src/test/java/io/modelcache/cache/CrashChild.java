package io.modelcache.cache;

import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;

/**
 * Child process for {@link ChunkCacheCrashIT}: caches blob A fully, says READY, then keeps reading
 * blob B under a tight budget (so writes and evictions are in progress) until it is killed.
 */
public final class CrashChild {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    byte[] a = ChunkCacheCrashIT.blobA();
    byte[] b = ChunkCacheCrashIT.blobB();
    ChunkCache cache = ChunkCache.open(ChunkCacheCrashIT.config(dir));
    BlobHandle ha = cache.open(BlobSpec.raw(Digest.of(a), a.length), new FakeFetcher(a));
    ChunkCacheFixture.readAll(ha, 1 << 20);
    BlobHandle hb = cache.open(BlobSpec.raw(Digest.of(b), b.length), new FakeFetcher(b));
    System.out.println("READY");
    System.out.flush();
    Random r = new Random(1);
    ByteBuffer buf = ByteBuffer.allocate(300_000);
    for (long i = 0; i < 10_000_000L; i++) {
      buf.clear();
      hb.read(r.nextLong(b.length), buf);
    }
    System.exit(3); // never closes cleanly
  }
}
