package io.modelcache.bench;

import io.modelcache.safetensors.SafetensorsFormatException;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * What the benchmark harnesses share: reading files the way a loader does (safetensors headers,
 * sha256 of a whole file or a range), the machine's state from /proc (CPU seconds, load, memory,
 * mounts), checks that fail a run on wrong bytes, and progress lines. Static; thread-safe.
 */
final class BenchUtil {
  private BenchUtil() {}

  static SafetensorsHeader header(Path f) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      ByteBuffer len = ByteBuffer.allocate(8);
      readFully(ch, len, 0);
      long n = SafetensorsHeader.readHeaderLength(len.array());
      check(n > 0 && n < SafetensorsHeader.MAX_HEADER, f + ": bad header length " + n);
      ByteBuffer all = ByteBuffer.allocate((int) (8 + n));
      readFully(ch, all, 0);
      return SafetensorsHeader.parse(all.array(), ch.size());
    } catch (SafetensorsFormatException e) {
      throw new IOException(f + ": " + e.getMessage(), e);
    }
  }

  static int readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    int total = 0;
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + total);
      if (n < 0) {
        throw new IOException("unexpected end of file at " + (pos + total));
      }
      total += n;
    }
    return total;
  }

  static String sha256(Path p) throws IOException {
    return sha256(p, 0, Files.size(p));
  }

  static String sha256(Path p, long from, long len) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate(1 << 20);
      long off = from;
      long end = from + len;
      while (off < end) {
        buf.clear().limit((int) Math.min(buf.capacity(), end - off));
        int n = ch.read(buf, off);
        if (n < 0) {
          throw new IOException(p + " ends at " + off + ", expected " + end);
        }
        md.update(buf.array(), 0, n);
        off += n;
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static void check(boolean ok, String what) throws IOException {
    if (!ok) {
      throw new IOException("check failed: " + what);
    }
  }

  static long sizeOf(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static String f(double v) {
    return Report.fmt(v);
  }

  static String human(long bytes) {
    if (bytes >= 1L << 30 && bytes % (1L << 30) == 0) {
      return (bytes >> 30) + " GiB";
    }
    if (bytes >= 1L << 20) {
      return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1 << 20));
    }
    return bytes + " B";
  }

  static String loadAvg() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
      return f[0] + ", " + f[1] + ", " + f[2];
    } catch (IOException | RuntimeException e) {
      return "?";
    }
  }

  /** The page cache's size now (/proc/meminfo Cached), in bytes. */
  static long pageCacheBytes() throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/meminfo"))) {
      if (l.startsWith("Cached:")) {
        return Long.parseLong(l.replaceAll("\\D", "")) << 10;
      }
    }
    throw new IOException("/proc/meminfo has no Cached line");
  }

  static String memTotal() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (l.startsWith("MemTotal:")) {
          return (Long.parseLong(l.replaceAll("\\D", "")) >> 20) + " GiB RAM";
        }
      }
    } catch (IOException | RuntimeException e) {
      // Only for the report header.
    }
    return "? RAM";
  }

  /** user + system CPU seconds of a process (Linux /proc, clock ticks of 1/100 s). */
  static double cpuSeconds(long pid) throws IOException {
    String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
    String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
  }

  /** {busy, total} ticks of all CPUs since boot (idle and iowait count as not busy). */
  static long[] machineTicks() throws IOException {
    String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
    long total = 0;
    for (int i = 1; i < f.length && i <= 8; i++) {
      total += Long.parseLong(f[i]);
    }
    long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
    return new long[] {total - idle, total};
  }

  static boolean anyMountUnder(Path dir) throws IOException {
    String prefix = dir.toAbsolutePath() + "/";
    for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
      String[] f = line.split(" ");
      if (f.length > 1 && (f[1] + "/").startsWith(prefix)) {
        return true;
      }
    }
    return false;
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static final long START = System.nanoTime();

  static void say(String fmt, Object... args) {
    System.out.printf(Locale.ROOT, "==> [%5.1f s] " + fmt + "%n",
        Stream.concat(Stream.of((System.nanoTime() - START) / 1e9), Stream.of(args)).toArray());
    System.out.flush();
  }
}
