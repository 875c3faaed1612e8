package io.modelcache.handover;

import io.modelcache.os.ErrnoException;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Starts a holder: the same JVM binary and class path as this process, its own main class, a small
 * heap, output appended to a log file, stdin from /dev/null. The holder leaves this process's
 * session itself (setsid), so killing the daemon, or its process group, leaves it running.
 */
final class HolderProcess {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

  private HolderProcess() {}

  static List<String> command(Path socket, Duration grace) {
    return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xms8m", "-Xmx32m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
        "-Xshare:auto", "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"), HolderMain.class.getName(),
        "--socket", socket.toString(), "--grace", grace.toMillis() + "ms");
  }

  /** Starts a holder on {@code socket} and returns a connection to it once it listens. */
  static HolderClient start(Path socket, Duration grace, Path log) throws IOException {
    Files.createDirectories(log.getParent());
    Process p = new ProcessBuilder(command(socket, grace))
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      try {
        return HolderClient.connect(socket);
      } catch (ErrnoException e) {
        if (!p.isAlive()) {
          // Another holder may have won the socket (this one then exits 0 at once).
          try {
            return HolderClient.connect(socket);
          } catch (ErrnoException again) {
            throw new IOException("the holder exited " + p.exitValue() + " without listening on " + socket
                + " (see " + log + ")");
          }
        }
        if (System.nanoTime() > deadline) {
          p.destroyForcibly();
          throw new IOException("the holder did not listen on " + socket + " within " + START_TIMEOUT.toSeconds()
              + " s (see " + log + ")");
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while starting the holder");
        }
      }
    }
  }
}
