package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second daemon on a home that a running daemon holds ends at once with one line and exit 2,
 * instead of running recovery on the live cache index and taking the first daemon's socket; the
 * first one keeps serving, and once it stopped a new daemon starts on the same home.
 */
class SecondDaemonIT {
  @TempDir Path tmp;

  @Test
  void aSecondDaemonOnTheSameHomeIsRefusedAndTheFirstKeepsServing() throws Exception {
    Path home = tmp.resolve("home");
    try (DaemonProcess first = new DaemonProcess(home).start()) {
      Cli.Result second = Cli.run(60, "daemon", "--home", home.toString(), "--cache-size", "1G",
          "--metrics-address", "127.0.0.1:0");
      assertEquals(2, second.exit(), second.err());
      assertEquals("modelcache: another daemon is running on " + home + " (pid " + first.pid()
          + "); stop it first, or give this one another --home", second.err().strip());
      Cli.Result status = Cli.ok("status", "--home", home.toString());
      assertTrue(status.out().contains("cache"), status.out());
      first.stop();
    }
    try (DaemonProcess again = new DaemonProcess(home).start()) {
      Cli.ok("status", "--home", home.toString());
    }
  }
}
