package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a daemon refuses to start with, each in one line and exit 2: a home another daemon holds
 * (instead of running recovery on the live cache index and taking its socket; the first one keeps
 * serving, and once it stopped a new daemon starts on the same home), count options below 1, and a
 * home too long for its sockets.
 */
class DaemonStartRefusalsIT {
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

  @Test
  void badFlagsAndAnOverlongHomeGetOneLineEach() throws Exception {
    String home = tmp.resolve("h").toString();
    String longHome = tmp.resolve("x".repeat(110)).toString();
    java.util.Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
    cases.put(List.of("--home", home, "--fetch-concurrency", "0"), "modelcache: --fetch-concurrency: must be at least 1, got 0");
    cases.put(List.of("--home", home, "--read-ahead-kb", "-1"), "modelcache: --read-ahead-kb: must be at least 1, got -1");
    cases.put(List.of("--home", home, "--cache-size", "0"), "modelcache: the cache size must be above 0");
    cases.put(List.of("--home", longHome), "modelcache: daemon home " + longHome + " is too long for its sockets ("
        + longHome + "/modelcache.sock would be " + (longHome.length() + 16) + " bytes; a unix socket path has at most 107)");
    for (var c : cases.entrySet()) {
      List<String> args = new java.util.ArrayList<>(List.of("daemon", "--metrics-address", "127.0.0.1:0"));
      args.addAll(c.getKey());
      Cli.Result r = Cli.run(60, args.toArray(String[]::new));
      assertEquals(2, r.exit(), c.getKey() + ": " + r.err());
      assertEquals(c.getValue(), r.err().strip(), c.getKey().toString());
    }
  }
}
