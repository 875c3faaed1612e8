package io.modelcache.handover;

import io.modelcache.config.Durations;
import io.modelcache.os.ErrnoException;
import io.modelcache.os.Fds;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The holder process: {@code HolderMain --socket PATH [--grace DURATION] [--stay]}. It makes itself
 * a session leader (so a signal to the daemon's process group or terminal does not reach it) and
 * serves until it holds nothing. A second holder on the same socket exits at once.
 */
public final class HolderMain {
  private HolderMain() {}

  public static void main(String[] args) throws Exception {
    // Its log (holder.log) is what an operator reads after an abort: info, like the daemon's.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "info");
    }
    Path socket = null;
    Duration grace = Duration.ofMinutes(5);
    boolean stay = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--socket" -> socket = Path.of(args[++i]);
        case "--grace" -> grace = Durations.parse("grace", args[++i]);
        case "--stay" -> stay = true;
        default -> {
          System.err.println("holder: unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }
    if (socket == null) {
      System.err.println("holder: --socket PATH is required");
      System.exit(2);
    }
    try {
      Fds.setsid();
    } catch (IOException e) {
      // Already a session (or process group) leader, as pid 1 of a container is: nothing to leave.
      System.err.println("holder: staying in this session (" + e.getMessage() + ")");
    }
    if (alreadyServed(socket)) {
      System.err.println("holder: another holder serves " + socket + "; exiting");
      return;
    }
    new HolderServer(socket, grace, System::nanoTime, HolderServer::abortAndClose, stay, Duration.ofSeconds(60)).run();
  }

  private static boolean alreadyServed(Path socket) {
    try (HolderClient c = HolderClient.connect(socket)) {
      c.list();
      return true;
    } catch (ErrnoException e) {
      return false;
    } catch (IOException e) {
      return false;
    }
  }
}
