package io.modelcache.bench.jmh;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The two checksums on the data path, over one 4 MiB chunk (the default chunk size): SHA-256
 * (blob verification, pull) and CRC32C (per-chunk integrity, crash recovery). MB/s = 4.194 / (ms/op).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class HashBench {
  static final int CHUNK = 4 << 20;
  byte[] heap;
  ByteBuffer direct;
  MessageDigest sha;

  @Setup
  public void setUp() throws NoSuchAlgorithmException {
    heap = new byte[CHUNK];
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < CHUNK; i++) {
      heap[i] = (byte) r.nextInt();
    }
    direct = ByteBuffer.allocateDirect(CHUNK).put(heap).flip();
    sha = MessageDigest.getInstance("SHA-256");
  }

  @Benchmark
  public byte[] sha256() {
    sha.update(heap);
    return sha.digest();
  }

  @Benchmark
  public long crc32c() {
    CRC32C c = new CRC32C();
    c.update(heap);
    return c.getValue();
  }

  @Benchmark
  public long crc32cDirect() {
    CRC32C c = new CRC32C();
    c.update(direct.duplicate());
    return c.getValue();
  }
}
