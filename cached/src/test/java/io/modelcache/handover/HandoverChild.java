package io.modelcache.handover;

import io.modelcache.os.Fds;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Child processes for {@link HolderIT} and {@link SystemdFdStoreIT}, each started as its own JVM and
 * reporting on stdout.
 */
final class HandoverChild {
  private HandoverChild() {}

  static Process start(Class<?> main, String... args) throws java.io.IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-cp", cp, main.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  /**
   * {@code Put HOME GRACE FILE [FIFO]}: keeps an open file and both ends of a pipe (and the write
   * end of FIFO) in a holder it starts, prints what they are, then waits to be killed.
   */
  static final class Put {
    public static void main(String[] args) throws Exception {
      HolderKeeper k = new HolderKeeper(Path.of(args[0]), Duration.parse(args[1]));
      int file = Fds.open(Path.of(args[2]), Fds.O_RDONLY);
      int[] pipe = Fds.pipe();
      k.keep("file", file, Map.of("path", args[2]));
      k.keep("pipe-r", pipe[0], Map.of());
      k.keep("pipe-w", pipe[1], Map.of());
      if (args.length > 3) {
        int fifo = Fds.open(Path.of(args[3]), Fds.O_WRONLY);
        k.keep("fifo-w", fifo, Map.of());
        Fds.close(fifo); // the holder's copy is the only writer left
      }
      System.out.println("PIPE " + Fds.describe(pipe[0]));
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(600_000);
    }
  }

  /** {@code TakeBack}: run with LISTEN_* set; takes the "fuse-" descriptors back and describes them. */
  static final class TakeBack {
    public static void main(String[] args) throws Exception {
      SystemdKeeper k = new SystemdKeeper(new SdNotify("/nonexistent"), System.getenv(), ProcessHandle.current().pid(),
          n -> n.startsWith("fuse-"));
      for (FdKeeper.Kept kept : k.takeBack()) {
        byte[] head = Fds.read(kept.fd(), 64);
        System.out.println("KEPT " + kept.name() + " " + Fds.inode(kept.fd()) + " " + Fds.describe(kept.fd()) + " "
            + new String(head, java.nio.charset.StandardCharsets.UTF_8).strip());
      }
      System.out.println("LEFT " + Fds.describe(ListenFds.START + 1));
      System.out.flush();
    }
  }
}
