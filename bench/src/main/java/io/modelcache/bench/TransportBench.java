package io.modelcache.bench;

import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.Mounted;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The two FUSE transports side by side, each in a process of its own (run by {@link E2eBench} in
 * its full mode): {@code scale T N DIR} mounts one small in-memory tree N times with transport T,
 * reads a file through each mount, and prints the process's OS threads and VmRSS;
 * {@code cpu T DIR MIB} serves one file of MIB MiB from memory (no cache, no network: the
 * transport's own cost), has {@code cat} read it in another process, and prints the serving
 * process's CPU seconds per GiB and the read requests it answered. Output: one {@code RESULT k=v ...} line.
 */
public final class TransportBench {
  private TransportBench() {}

  private static final List<String> TRANSPORTS = List.of("kernel", "jnr");
  private static final List<Integer> MOUNTS = List.of(1, 50);
  private static final long CPU_MIB = 1024;

  /** Runs every measurement in child processes under {@code work}; {@code sample} gets each figure. */
  static void measure(Path work, int runs, java.util.function.BiConsumer<String, Double> sample) throws IOException {
    for (String t : TRANSPORTS) {
      for (int n : MOUNTS) {
        Map<String, String> r = child(work.resolve("scale-" + t + "-" + n), "scale", t, Integer.toString(n));
        sample.accept("tx." + t + ".threads." + n, Double.parseDouble(r.get("threads")));
        sample.accept("tx." + t + ".rss." + n, Double.parseDouble(r.get("rssMiB")));
      }
      for (int i = 0; i < runs; i++) {
        Map<String, String> r = child(work.resolve("cpu-" + t + "-" + i), "cpu", t, Long.toString(CPU_MIB));
        sample.accept("tx." + t + ".cpu", Double.parseDouble(r.get("cpuPerGiB")));
        sample.accept("tx." + t + ".reads", Double.parseDouble(r.get("reads")));
        if (t.equals("kernel")) { // taking turns with the copying reader, so that both see the same load
          r = child(work.resolve("cpu-lend-" + i), "cpu-lend", t, Long.toString(CPU_MIB));
          sample.accept("tx.kernel.lend.cpu", Double.parseDouble(r.get("cpuPerGiB")));
        }
      }
    }
  }

  /** The rows of {@link #measure}'s figures, kernel and jnr side by side. */
  static void addRows(Report rp, java.util.function.Function<String, List<Double>> s) {
    rp.notes.add("transports: every figure from a fresh JVM per measurement (JIT warm-up counted in the CPU), an in-memory"
        + " tree through FuseTransport with default options (passthrough off: nothing to pass through)");
    double jnrCpu = Report.median(s.apply("tx.jnr.cpu"));
    for (String t : TRANSPORTS) {
      rp.add("transports", t + ": serving CPU per GiB, a 1 GiB file from memory read by cat (the transport's own cost)",
          s.apply("tx." + t + ".cpu"), "s/GiB", t.equals("jnr") ? null : "jnr",
          t.equals("jnr") ? null : Report.median(s.apply("tx." + t + ".cpu")) / jnrCpu, null, null);
      rp.add("transports", t + ": read requests for that 1 GiB", s.apply("tx." + t + ".reads"), "requests", null, null,
          null, null);
      if (t.equals("kernel") && !s.apply("tx.kernel.lend.cpu").isEmpty()) {
        rp.add("transports", "kernel: the same, the reader lending its memory (reply written from it, no copy)",
            s.apply("tx.kernel.lend.cpu"), "s/GiB", "copying reader",
            Report.median(s.apply("tx.kernel.lend.cpu")) / Report.median(s.apply("tx.kernel.cpu")), null, null);
      }
      for (int n : MOUNTS) {
        rp.add("transports", t + ": serving process OS threads with " + n + " mount" + (n > 1 ? "s" : ""),
            s.apply("tx." + t + ".threads." + n), "threads", null, null, null, null);
        rp.add("transports", t + ": serving process RSS with " + n + " mount" + (n > 1 ? "s" : ""),
            s.apply("tx." + t + ".rss." + n), "MiB", null, null, null, null);
      }
    }
  }

  private static Map<String, String> child(Path dir, String what, String transport, String arg) throws IOException {
    Files.createDirectories(dir);
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
        "-cp", System.getProperty("java.class.path"), TransportBench.class.getName(), what, transport, dir.toString(), arg);
    Procs.Result r = Procs.ok(600, cmd);
    String line = r.output().lines().filter(l -> l.startsWith("RESULT ")).findFirst()
        .orElseThrow(() -> new IOException(String.join(" ", cmd) + " printed no RESULT: " + r.output()));
    Map<String, String> kv = new java.util.HashMap<>();
    for (String f : line.substring(7).split(" ")) {
      int eq = f.indexOf('=');
      kv.put(f.substring(0, eq), f.substring(eq + 1));
    }
    return kv;
  }

  public static void main(String[] args) throws Exception {
    FuseTransport t = FuseTransport.named(args[1]);
    Path dir = Path.of(args[2]);
    switch (args[0]) {
      case "scale" -> scale(t, Integer.parseInt(args[3]), dir);
      case "cpu" -> cpu(t, dir, new Tree(Long.parseLong(args[3]) << 20, false));
      case "cpu-lend" -> cpu(t, dir, new Tree(Long.parseLong(args[3]) << 20, true));
      default -> throw new IllegalArgumentException("scale|cpu|cpu-lend");
    }
  }

  private static void scale(FuseTransport t, int n, Path dir) throws Exception {
    Tree tree = new Tree(4096, false);
    List<Mounted> mounts = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        Path mp = Files.createDirectories(dir.resolve("m" + i));
        mounts.add(t.mount(mp, tree, FuseOptions.defaults().withFsName("bench-scale")));
        if (Files.readAllBytes(mp.resolve("file")).length != 4096) {
          throw new IllegalStateException("short read through " + mp);
        }
      }
      System.gc();
      Thread.sleep(500);
      long threads;
      try (Stream<Path> s = Files.list(Path.of("/proc/self/task"))) {
        threads = s.count();
      }
      long rssKb = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS:"))
          .mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElse(-1);
      System.out.printf(Locale.ROOT, "RESULT threads=%d rssMiB=%.1f%n", threads, rssKb / 1024.0);
    } finally {
      for (Mounted m : mounts) {
        m.close();
      }
    }
  }

  private static void cpu(FuseTransport t, Path dir, Tree tree) throws Exception {
    long size = tree.size();
    Path mp = Files.createDirectories(dir.resolve("cpu"));
    try (Mounted m = t.mount(mp, tree, FuseOptions.defaults().withFsName("bench-cpu"))) {
      Duration before = ProcessHandle.current().info().totalCpuDuration().orElseThrow();
      Process p = new ProcessBuilder("cat", mp.resolve("file").toString())
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (p.waitFor() != 0) {
        throw new IllegalStateException("cat failed");
      }
      double cpu = ProcessHandle.current().info().totalCpuDuration().orElseThrow().minus(before).toNanos() / 1e9;
      System.out.printf(Locale.ROOT, "RESULT cpuPerGiB=%.4f reads=%d%n", cpu / (size / (double) (1L << 30)),
          m.operationCounts().getOrDefault("read", 0L));
    }
  }

  /**
   * One file, {@code /file}, of {@code size} bytes of a repeating pattern; with {@code lend} its
   * reader also lends slices of a direct copy of the pattern ({@link FileReader#lend}), as the
   * cache does with chunks just fetched.
   */
  private record Tree(long size, boolean lend) implements ReadOnlyTree {
    private static final byte[] PATTERN = new byte[1 << 20];
    private static final java.nio.ByteBuffer DIRECT;

    static {
      new java.util.Random(7).nextBytes(PATTERN);
      DIRECT = java.nio.ByteBuffer.allocateDirect(PATTERN.length).put(PATTERN).flip();
    }

    @Override
    public NodeAttributes stat(String path) {
      return switch (path) {
        case "/" -> NodeAttributes.directory(0755, 1_700_000_000L);
        case "/file" -> new NodeAttributes(false, size, 0444, 0, 0, 1_700_000_000L, 0);
        default -> null;
      };
    }

    @Override
    public List<String> list(String path) {
      return path.equals("/") ? List.of("file") : null;
    }

    @Override
    public FileReader open(String path) throws IOException {
      if (!path.equals("/file")) {
        throw new NoSuchFileException(path);
      }
      return new FileReader() {
        @Override
        public int read(long offset, java.nio.ByteBuffer dst) {
          int n = (int) Math.max(0, Math.min(dst.remaining(), size - offset));
          for (int done = 0; done < n; ) {
            int at = (int) ((offset + done) & (PATTERN.length - 1));
            int len = Math.min(n - done, PATTERN.length - at);
            dst.put(PATTERN, at, len);
            done += len;
          }
          return n;
        }

        @Override
        public io.modelcache.fuse.Loan lend(long offset, int len) {
          int n = (int) Math.max(0, Math.min(len, size - offset));
          if (!lend || n == 0) {
            return null;
          }
          List<java.nio.ByteBuffer> parts = new ArrayList<>(2);
          for (int done = 0; done < n; ) {
            int at = (int) ((offset + done) & (PATTERN.length - 1));
            int l = Math.min(n - done, PATTERN.length - at);
            parts.add(DIRECT.slice(at, l));
            done += l;
          }
          java.nio.ByteBuffer[] array = parts.toArray(java.nio.ByteBuffer[]::new);
          return new io.modelcache.fuse.Loan() {
            @Override
            public java.nio.ByteBuffer[] parts() {
              return array;
            }

            @Override
            public int length() {
              return n;
            }

            @Override
            public void close() { }
          };
        }

        @Override
        public void close() { }
      };
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return Map.of();
    }

    @Override
    public long totalBytes() {
      return size;
    }
  }
}
