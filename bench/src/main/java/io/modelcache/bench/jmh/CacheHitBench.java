package io.modelcache.bench.jmh;

import io.modelcache.cache.BlobFetcher;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.BlobSpec;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.oci.Digest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cache's hit path, which every FUSE read of cached bytes takes: handle lookup, presence check
 * (pin, bitmap test, access stamp, unpin) and the positional read from the blob's sparse file.
 * A 64 MiB blob is fetched once from an in-memory upstream in a temp dir, then only read.
 *
 * <p>{@code read128k} is the FUSE request size of libfuse2 (bytes/s = ops/s × 131072);
 * {@code read4k} is dominated by the per-call overhead, i.e. the presence check;
 * {@code openClose} is the lookup of an already-cached blob by key.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CacheHitBench {
  static final int BLOB = 64 << 20;

  /** One cache and one open handle shared by all benchmark threads (the handle is thread-safe). */
  @State(Scope.Benchmark)
  public static class Cache {
    Path dir;
    ChunkCache cache;
    BlobHandle handle;
    BlobSpec spec;
    BlobFetcher fetcher;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      byte[] data = new byte[BLOB];
      SplittableRandom r = new SplittableRandom(7);
      for (int i = 0; i < data.length; i += 8) {
        long v = r.nextLong();
        for (int j = 0; j < 8; j++) {
          data[i + j] = (byte) (v >>> (8 * j));
        }
      }
      dir = Files.createTempDirectory("mc-jmh-cache");
      cache = ChunkCache.open(CacheConfig.defaults(dir).withBudgetBytes(1L << 30));
      fetcher = (off, len) -> new ByteArrayInputStream(data, (int) off, len < 0 ? data.length - (int) off : (int) len);
      spec = BlobSpec.raw(Digest.of(data), data.length);
      handle = cache.open(spec, fetcher);
      ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
      for (long off = 0; off < BLOB; off += buf.capacity()) { // fetch everything once: later reads all hit
        buf.clear();
        handle.read(off, buf);
      }
      if (handle.cachedBytes() != BLOB) {
        throw new IllegalStateException("blob not fully cached: " + handle.cachedBytes());
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      handle.close();
      cache.close();
      try (Stream<Path> s = Files.walk(dir)) {
        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /** Per-thread buffers and a cursor walking the blob sequentially, as a reader does. */
  @State(Scope.Thread)
  public static class Reader {
    final ByteBuffer big = ByteBuffer.allocateDirect(128 << 10);
    final ByteBuffer small = ByteBuffer.allocateDirect(4 << 10);
    long offset;

    long next(int step) {
      long o = offset;
      offset = (o + step) % BLOB;
      return o;
    }
  }

  @Benchmark
  public int read128k(Cache c, Reader r) throws IOException {
    r.big.clear();
    return c.handle.read(r.next(128 << 10), r.big);
  }

  @Benchmark
  public int read4k(Cache c, Reader r) throws IOException {
    r.small.clear();
    return c.handle.read(r.next(4 << 10), r.small);
  }

  @Benchmark
  public long openClose(Cache c) throws IOException {
    try (BlobHandle h = c.cache.open(c.spec, c.fetcher)) {
      return h.cachedBytes();
    }
  }
}
