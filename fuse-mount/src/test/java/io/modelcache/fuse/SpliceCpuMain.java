package io.modelcache.fuse;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Manual measurement (not a test; issue 10, run as root): READ replies of the kernel transport
 * written with write(2) from the reply buffer (the file's bytes read into it first, as the daemon
 * does when passthrough is off) against replies spliced from the file into /dev/fuse
 * ({@link io.modelcache.fuse.kernel.SpliceReply}: header and file range through a pipe), which the
 * transport does for an open served here whose reader has a {@link BackingFile}.
 *
 * <p>One tree of one 1 GiB file backed by a file on disk ({@code DIR/backing}, made once, then read
 * again before every run so that its page cache is warm: this measures the reply path, not the
 * disk; each run says how much of it was still in the page cache after, since other jobs may drop
 * caches); passthrough is off. Each run mounts it afresh under {@code DIR} and reads it with {@code dd bs=1M} in another
 * process, and prints this JVM's CPU seconds per GiB and the wall time. Modes alternate (write,
 * splice, then splice, write, ...), after one warm-up run of each that is printed but not counted;
 * then one more read per mode is hashed and compared with the backing file's sha256.
 *
 * <p>Usage: SpliceCpuMain DIR RUNS
 */
public final class SpliceCpuMain {
  private static final long SIZE = 1L << 30;

  public static void main(String[] args) throws Exception {
    Path dir = Files.createDirectories(Path.of(args[0]));
    int runs = Integer.parseInt(args[1]);
    Path backing = dir.resolve("backing");
    if (!Files.exists(backing) || Files.size(backing) != SIZE) {
      byte[] pattern = MemoryTree.randomBytes(7, 1 << 20);
      try (FileChannel ch = FileChannel.open(backing, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.TRUNCATE_EXISTING)) {
        for (long at = 0; at < SIZE; at += pattern.length) {
          pattern[(int) (at >>> 20) & 1023] ^= (byte) (at >>> 20); // every MiB different
          ch.write(ByteBuffer.wrap(pattern), at);
        }
      }
    }
    String want = sha256(Files.newInputStream(backing)); // also warms its page cache
    System.out.println("backing " + backing + " sha256 " + want);
    FuseTransport t = FuseTransport.kernel();
    List<Double> cpuW = new ArrayList<>();
    List<Double> cpuS = new ArrayList<>();
    List<Double> wallW = new ArrayList<>();
    List<Double> wallS = new ArrayList<>();
    int n = 0;
    for (int r = -1; r < runs; r++) {
      boolean[] order = (r & 1) == 0 ? new boolean[] {false, true} : new boolean[] {true, false};
      for (boolean splice : order) {
        double[] m = run(t, dir.resolve("m" + n++), backing, splice);
        String mode = splice ? "splice" : "write";
        System.out.printf("RESULT mode=%s run=%s cpuSecondsPerGiB=%.3f (user %.2f sys %.2f) wallSeconds=%.2f reads=%d"
            + " load=%s backingResidentAfter=%s%n", mode, r < 0 ? "warmup" : Integer.toString(r), m[0], m[3], m[4], m[1],
            (long) m[2], load(), m[5] < 0 ? "?" : m[5] >= SIZE ? "all" : String.format("%.1f%%", 100 * m[5] / SIZE));
        if (r >= 0) {
          (splice ? cpuS : cpuW).add(m[0]);
          (splice ? wallS : wallW).add(m[1]);
        }
      }
    }
    System.out.printf("MEDIAN mode=write cpuSecondsPerGiB=%.3f wallSeconds=%.2f%n", median(cpuW), median(wallW));
    System.out.printf("MEDIAN mode=splice cpuSecondsPerGiB=%.3f wallSeconds=%.2f%n", median(cpuS), median(wallS));
    for (boolean splice : new boolean[] {false, true}) {
      Path mp = Files.createDirectories(dir.resolve("m" + n++));
      try (Mounted m = t.mount(mp, tree(backing, splice), FuseOptions.defaults().withFsName("splice-test"))) {
        String got = sha256(Files.newInputStream(mp.resolve("big")));
        System.out.printf("SHA256 mode=%s %s %s%n", splice ? "splice" : "write", got, got.equals(want) ? "exact" : "DIFFERS");
      }
    }
  }

  /** CPU-s per GiB of this JVM, wall seconds, READ requests: one dd of the file through a fresh mount. */
  private static double[] run(FuseTransport t, Path mp, Path backing, boolean splice) throws Exception {
    Files.createDirectories(mp);
    exec("cat", backing.toString()); // other jobs on the machine drop caches: warm the backing file again
    try (Mounted m = t.mount(mp, tree(backing, splice), FuseOptions.defaults().withFsName("splice-test"))) {
      Duration before = ProcessHandle.current().info().totalCpuDuration().orElseThrow();
      long[] ticks0 = userSysTicks();
      long t0 = System.nanoTime();
      Process p = new ProcessBuilder("dd", "if=" + mp.resolve("big"), "of=/dev/null", "bs=1M")
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (p.waitFor() != 0) {
        throw new IllegalStateException("dd failed");
      }
      double wall = (System.nanoTime() - t0) / 1e9;
      double cpu = ProcessHandle.current().info().totalCpuDuration().orElseThrow().minus(before).toNanos() / 1e9;
      long[] ticks1 = userSysTicks();
      long resident = resident(backing);
      double gib = SIZE / (double) (1L << 30);
      return new double[] {cpu / gib, wall, m.operationCounts().getOrDefault("read", 0L),
          (ticks1[0] - ticks0[0]) / 100.0 / gib, (ticks1[1] - ticks0[1]) / 100.0 / gib, resident};
    }
  }

  /** "/" and "/big", the backing file's bytes. */
  private static ReadOnlyTree tree(Path backing, boolean splice) {
    return new OneFileTree(SIZE, () -> new DiskReader(backing, splice));
  }

  /**
   * Reads the backing file with positional FileChannel reads (the write(2) path, like the daemon's
   * reads of a cache file); in splice mode also offers the file as its backing file, which the
   * transport (passthrough off) then splices READ replies from.
   */
  private static final class DiskReader implements ReadOnlyTree.FileReader {
    private final FileChannel ch;
    private final Path backing;
    private final boolean splice;

    DiskReader(Path backing, boolean splice) throws IOException {
      this.ch = FileChannel.open(backing, StandardOpenOption.READ);
      this.backing = backing;
      this.splice = splice;
    }

    @Override
    public int read(long offset, ByteBuffer dst) throws IOException {
      int n = ch.read(dst, offset);
      return Math.max(n, 0);
    }

    @Override
    public java.util.Optional<BackingFile> backing() {
      return !splice ? java.util.Optional.empty() : java.util.Optional.of(new BackingFile() {
        @Override
        public Path path() {
          return backing;
        }

        @Override
        public long length() {
          return SIZE;
        }

        @Override
        public void close() {}
      });
    }

    @Override
    public void close() {
      try {
        ch.close();
      } catch (IOException e) {
        // read-only: nothing lost
      }
    }
  }

  private static String sha256(InputStream in) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (in) {
      byte[] buf = new byte[1 << 20];
      for (int k; (k = in.read(buf)) > 0; ) {
        md.update(buf, 0, k);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    int k = s.size();
    return k == 0 ? Double.NaN : k % 2 == 1 ? s.get(k / 2) : (s.get(k / 2 - 1) + s.get(k / 2)) / 2;
  }

  /** Bytes of {@code f} in the page cache (fincore), or -1 when that cannot be told. */
  private static long resident(Path f) {
    try {
      Process p = new ProcessBuilder("fincore", "--bytes", "--noheadings", "--output", "RES", f.toString())
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes()).trim();
      return p.waitFor() == 0 ? Long.parseLong(out) : -1;
    } catch (Exception e) {
      return -1;
    }
  }

  private static void exec(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", cmd) + " failed");
    }
  }

  /** This process's user and system CPU in clock ticks (USER_HZ, 100 on Linux), /proc/self/stat fields 14 and 15. */
  private static long[] userSysTicks() throws IOException {
    String st = Files.readString(Path.of("/proc/self/stat"));
    String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
    return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
  }

  private static String load() throws IOException {
    return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
  }
}
