package io.modelcache.it;

import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/** Readers that run in their own JVM (a mapping of a mount must not be faulted in by a JVM that serves it). */
final class ReaderChild {
  private ReaderChild() {}

  static Process start(Class<?> main, String... args) throws java.io.IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", cp, main.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).start();
  }

  /** {@code MmapHash FILE}: the sha256 of FILE hashed through a shared mapping. */
  static final class MmapHash {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(map);
        System.out.println(HexFormat.of().formatHex(md.digest()));
      }
    }
  }

  /**
   * {@code Hold FILE}: opens and maps FILE, prints {@code OPEN}, waits for a line on stdin (the
   * handle is held open meanwhile: across a daemon restart, say), then prints the sha256 of the
   * file read through the held descriptor and through the mapping, and exits 0.
   */
  static final class Hold {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        System.out.println("OPEN");
        System.out.flush();
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        long pos = 0;
        int n;
        while ((n = ch.read(buf.clear(), pos)) > 0) {
          md.update(buf.flip());
          pos += n;
        }
        MessageDigest mm = MessageDigest.getInstance("SHA-256");
        mm.update(map);
        System.out.println(HexFormat.of().formatHex(md.digest()) + " " + HexFormat.of().formatHex(mm.digest()));
      }
    }
  }

  /** {@code Preads FILE ORIGINAL N}: N random unaligned preads of FILE compared with ORIGINAL's bytes. */
  static final class Preads {
    public static void main(String[] args) throws Exception {
      int n = Integer.parseInt(args[2]);
      Random r = new Random(17);
      int ok = 0;
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ);
          FileChannel orig = FileChannel.open(Path.of(args[1]), StandardOpenOption.READ)) {
        long size = orig.size();
        for (int i = 0; i < n; i++) {
          int len = 1 + r.nextInt(200_000);
          long off = (long) (r.nextDouble() * (size - len));
          ByteBuffer got = ByteBuffer.allocate(len);
          ByteBuffer want = ByteBuffer.allocate(len);
          while (got.hasRemaining() && ch.read(got, off + got.position()) > 0) {
            // a pread may return less than asked
          }
          orig.read(want, off);
          ok += Arrays.equals(got.array(), want.array()) ? 1 : 0;
        }
      }
      System.out.println("preads " + ok + "/" + n + " exact");
      System.exit(ok == n ? 0 : 1);
    }
  }
}
