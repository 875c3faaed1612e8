package io.modelcache.fuse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Work that must run in another process. mmap of a file served by this JVM must not happen in this
 * JVM: a thread faulting on the mapping is "in Java" and blocks safepoints, while the FUSE worker
 * that would serve the fault waits for the safepoint to end (a deadlock seen in practice).
 */
final class ChildJvm {
  private ChildJvm() {}

  static Process start(Class<?> main, String... args) throws IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "-cp", cp, main.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  /** Child main: prints the sha256 of a file read through mmap (MAP_SHARED, as Java maps). */
  static final class MmapSha256 {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        ByteBuffer view = map.duplicate();
        md.update(view);
        System.out.println(HexFormat.of().formatHex(md.digest()));
      }
    }
  }

  /** Child main: mounts the sample tree on args[0] (transport args[1]), prints MOUNTED, waits to be killed. */
  static final class MountAndWait {
    public static void main(String[] args) throws Exception {
      FuseTransport.named(args.length > 1 ? args[1] : "jnr").mount(Path.of(args[0]), MemoryTree.sample(), FuseOptions.defaults().withFsName("stale-test"));
      System.out.println("MOUNTED");
      System.out.flush();
      Thread.sleep(600_000);
    }
  }
}
