package io.modelcache.bench;


import io.modelcache.cache.BlobFetcher;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.BlobSpec;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.cache.FetchPriority;
import io.modelcache.chunkindex.ChunkHasher;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A diagnostic, not a benchmark with targets: where does one sequential cold reader lose time
 * between the registry and the cache file? Pushes one random blob to a loopback docker-registry and
 * times, page cache dropped before each step: curl, the registry client (one stream; sequential
 * 16 MiB ranges), and the chunk cache (one thread reading 1 MiB at a time, with and without a
 * read-ahead of the whole blob), and the cost of checking chunks against a chunk digest index with
 * and without the whole-blob sha256 on top. No FUSE. Run with {@code bench/probe [SIZE_MIB]}.
 */
public final class IngestProbe {
  private IngestProbe() {}

  public static void main(String[] args) throws Exception {
    long size = (args.length > 0 ? Long.parseLong(args[0]) : 1024) << 20;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    Path work = Files.createTempDirectory("modelcache-probe");
    try (BenchRegistry reg = BenchRegistry.start(work.resolve("registry"))) {
      Path blob = work.resolve("blob");
      ChunkHasher chunks = new ChunkHasher(0, size, ChunkIndex.DEFAULT_CHUNK_SIZE);
      Digest d = writeRandom(blob, size, chunks);
      ChunkDigests digests = chunks.finish();
      Reference ref = Reference.parse(reg.hostPort() + "/probe/blob:latest");
      RegistryOptions opts = RegistryOptions.defaults();
      try (RegistryClient c = RegistryClient.open(ref, opts)) {
        c.putBlob(d, size, () -> Files.newInputStream(blob));
      }
      Files.delete(blob);
      String url = reg.base() + "/v2/probe/blob/blobs/" + d;
      for (int run = 0; run < runs; run++) {
        dropCaches();
        double t = time(() -> Procs.ok(600, List.of("curl", "-sf", "-o", "/dev/null", url)));
        report("curl whole blob", size, t);
        try (RegistryClient c = RegistryClient.open(ref, opts)) {
          dropCaches();
          t = time(() -> drain(c.openBlob(d, 0, size)));
          report("client, one stream", size, t);
          dropCaches();
          t = time(() -> {
            for (long off = 0; off < size; off += 16 << 20) {
              drain(c.openBlob(d, off, Math.min(16 << 20, size - off)));
            }
          });
          report("client, sequential 16 MiB ranges", size, t);
          BlobFetcher f = (off, len) -> c.openBlob(d, off, len);
          for (boolean ahead : new boolean[] {false, true}) {
            for (Check check : Check.values()) {
              if (check != Check.WHOLE_BLOB && !ahead) {
                continue; // the index cases are about CPU: one configuration is enough
              }
              Path dir = work.resolve("cache-" + run + "-" + ahead + "-" + check);
              CacheConfig cfg = CacheConfig.defaults(dir).withBudgetBytes(4 * size);
              try (ChunkCache cache = ChunkCache.open(cfg);
                  BlobHandle h = cache.open(BlobSpec.raw(d, size), f)) {
                dropCaches();
                t = time(() -> {
                  ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                  long off = 0;
                  if (check == Check.INDEX) {
                    h.verifyWith(digests);
                  } else if (check == Check.INDEX_AND_WHOLE_BLOB) {
                    off += h.read(0, buf); // chunk 0 arrives before the index: the blob's in-order hash stays on
                    h.verifyWith(digests);
                  }
                  if (ahead) {
                    h.prefetch(off, size - off, FetchPriority.READ_AHEAD);
                  }
                  while (off < size) {
                    buf.clear();
                    off += h.read(off, buf);
                  }
                  // The whole-blob check runs on the cache's executor once the last chunk landed: wait for it.
                  for (int i = 0; i < 3000 && !h.isComplete(); i++) {
                    Thread.sleep(10);
                  }
                  if (!h.isComplete()) {
                    throw new IllegalStateException("blob not verified 30 s after a full read");
                  }
                });
                report("cache, 1 MiB reads" + (ahead ? ", whole-blob read-ahead" : ", demand only") + check.label,
                    size, t);
              }
            }
          }
        }
      }
    } finally {
      Procs.run(60, List.of("rm", "-rf", work.toString()));
    }
  }

  /** How the cache checks the blob: its layer digest only, or a chunk digest index (with or without it). */
  enum Check {
    WHOLE_BLOB(""), INDEX(", chunk index"), INDEX_AND_WHOLE_BLOB(", chunk index + whole sha256");

    final String label;

    Check(String label) {
      this.label = label;
    }
  }

  interface Step {
    void run() throws Exception;
  }

  private static double lastCpu;

  private static double time(Step s) throws Exception {
    long c0 = cpuNanos();
    long t0 = System.nanoTime();
    s.run();
    double wall = (System.nanoTime() - t0) / 1e9;
    lastCpu = (cpuNanos() - c0) / 1e9;
    return wall;
  }

  /** CPU time of this JVM (all threads), so that runs on a busy machine can still be compared. */
  private static long cpuNanos() {
    return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
  }

  private static void report(String what, long bytes, double seconds) {
    System.out.printf(Locale.ROOT, "%-50s %6.3f s  %6.3f GB/s  probe JVM cpu %6.3f s/GiB%n", what, seconds,
        bytes / seconds / 1e9, lastCpu / (bytes / (double) (1L << 30)));
  }

  private static void drain(InputStream in) throws IOException {
    try (in) {
      in.transferTo(OutputStream.nullOutputStream());
    }
  }

  private static void dropCaches() throws IOException {
    Procs.bash(60, "sync; echo 3 > /proc/sys/vm/drop_caches");
  }

  private static Digest writeRandom(Path file, long size, ChunkHasher chunks) throws IOException {
    MessageDigest md = Digest.sha256();
    SplittableRandom r = new SplittableRandom(42);
    byte[] buf = new byte[1 << 20];
    List<Long> unused = new ArrayList<>();
    try (OutputStream out = Files.newOutputStream(file)) {
      for (long off = 0; off < size; off += buf.length) {
        for (int i = 0; i < buf.length; i += 8) {
          long v = r.nextLong();
          for (int k = 0; k < 8; k++) {
            buf[i + k] = (byte) (v >>> (8 * k));
          }
        }
        int n = (int) Math.min(buf.length, size - off);
        out.write(buf, 0, n);
        md.update(buf, 0, n);
        chunks.update(off, buf, 0, n);
      }
    }
    unused.clear();
    return Digest.of(md);
  }
}
