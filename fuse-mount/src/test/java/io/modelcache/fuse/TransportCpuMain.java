package io.modelcache.fuse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Manual measurement (not a test): the serving process's CPU per GiB for a sequential read of a
 * 1 GiB file served from memory (no cache, no network: the transport's own cost), read by
 * {@code cat} in another process, once per run. Usage: TransportCpuMain kernel|jnr DIR RUNS.
 */
public final class TransportCpuMain {
  public static void main(String[] args) throws Exception {
    FuseTransport t = FuseTransport.named(args[0]);
    Path dir = Path.of(args[1]);
    int runs = Integer.parseInt(args[2]);
    byte[] pattern = MemoryTree.randomBytes(7, 1 << 20);
    long size = 1L << 30;
    MemoryTree tree = new MemoryTree().file("/big", size, (offset, dst) -> {
      int n = (int) Math.min(dst.remaining(), size - Math.min(size, offset));
      int done = 0;
      while (done < n) {
        int at = (int) ((offset + done) & ((1 << 20) - 1));
        int len = Math.min(n - done, (1 << 20) - at);
        dst.put(pattern, at, len);
        done += len;
      }
      return n;
    });
    for (int r = 0; r < runs; r++) {
      Path mp = Files.createDirectories(dir.resolve("m" + r));
      try (Mounted m = t.mount(mp, tree, FuseOptions.defaults().withFsName("cpu-test"))) {
        Duration before = ProcessHandle.current().info().totalCpuDuration().orElseThrow();
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder("cat", mp.resolve("big").toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
          throw new IllegalStateException("cat failed");
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        double cpu = (ProcessHandle.current().info().totalCpuDuration().orElseThrow().minus(before)).toNanos() / 1e9;
        System.out.printf("RESULT transport=%s run=%d cpuSecondsPerGiB=%.3f wallSeconds=%.2f reads=%d%n", t.name(), r, cpu, wall,
            m.operationCounts().getOrDefault("read", 0L));
      }
    }
  }
}
