package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shipped unit passes systemd's own checks, where systemd's tools are installed. */
class SystemdUnitIT {
  static final Path UNIT = Path.of("..", "systemd", "modelcache.service");

  record Run(int exit, String output) {}

  static Run run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + String.join(" ", cmd));
    return new Run(p.exitValue(), out);
  }

  /** The unit with ExecStart pointing at the launcher this build made (verify checks it exists). */
  static Path unitForThisBuild(Path dir) throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/systemd-analyze")),
        "systemd-analyze is not installed: unit checks skipped");
    String unit = Files.readString(UNIT).replace("/usr/local/bin/modelcache", Cli.launcher().toAbsolutePath().toString());
    Path copy = dir.resolve("modelcache.service");
    Files.writeString(copy, unit);
    return copy;
  }

  @Test
  void verifyFindsNothingToComplainAbout(@TempDir Path dir) throws Exception {
    Run r = run("systemd-analyze", "verify", unitForThisBuild(dir).toString());
    assertEquals(0, r.exit(), r.output());
    assertEquals("", r.output().strip(), "systemd-analyze verify printed warnings");
  }

  /** The weekly check of the cache's bytes at rest: the timer and its service next to the daemon's unit. */
  @Test
  void theVerifyTimerAndItsServicePassVerifyAndAreLockedDown(@TempDir Path dir) throws Exception {
    unitForThisBuild(dir); // the daemon's unit, which the verify service requires
    for (String name : new String[] {"modelcache-verify.service", "modelcache-verify.timer"}) {
      Files.writeString(dir.resolve(name), Files.readString(UNIT.resolveSibling(name))
          .replace("/usr/local/bin/modelcache", Cli.launcher().toAbsolutePath().toString()));
    }
    String service = Files.readString(dir.resolve("modelcache-verify.service"));
    assertTrue(service.contains(" cache verify --home ${MODELCACHE_HOME} --timeout 12h\n"), service);
    Run r = run("systemd-analyze", "verify", dir.resolve("modelcache-verify.timer").toString(),
        dir.resolve("modelcache-verify.service").toString());
    assertEquals(0, r.exit(), r.output());
    assertEquals("", r.output().strip(), "systemd-analyze verify printed warnings");
    Run s = run("systemd-analyze", "security", "--offline=true", "--no-pager", dir.resolve("modelcache-verify.service").toString());
    Matcher m = Pattern.compile("Overall exposure level for modelcache-verify.service: ([0-9.]+)").matcher(s.output());
    assertTrue(m.find(), s.output());
    assertTrue(Double.parseDouble(m.group(1)) <= 3.0, s.output()); // a socket client needs no capability
  }

  @Test
  void hardeningKeepsExposureLow(@TempDir Path dir) throws Exception {
    Run r = run("systemd-analyze", "security", "--offline=true", "--no-pager", unitForThisBuild(dir).toString());
    Matcher m = Pattern.compile("Overall exposure level for modelcache.service: ([0-9.]+)").matcher(r.output());
    assertTrue(m.find(), r.output());
    double exposure = Double.parseDouble(m.group(1));
    // FUSE needs CAP_SYS_ADMIN and a mount namespace shared with the host; everything else is locked down.
    assertTrue(exposure <= 5.0, "exposure " + exposure + " > 5.0:\n" + r.output());
  }

  /**
   * The daemon as systemd runs it: NOTIFY_SOCKET set (here a datagram socket this test binds, as
   * PID 1 would: this machine has systemd's tools but systemd is not running), READY=1 once it
   * serves and STOPPING=1 on SIGTERM.
   */
  @Test
  void daemonTellsTheServiceManagerItIsReadyAndStopping(@TempDir Path dir) throws Exception {
    Path sock = dir.resolve("notify");
    int manager = io.modelcache.os.Sockets.bindDatagram(sock.toString());
    try (DaemonProcess d = new DaemonProcess(dir.resolve("home")).env(java.util.Map.of("NOTIFY_SOCKET", sock.toString()))) {
      d.start();
      assertEquals("READY=1\nSTATUS=serving " + dir.resolve("home") + "\n", nextMessage(manager));
      d.stop();
      assertEquals("STOPPING=1\n", nextMessage(manager));
    } finally {
      io.modelcache.os.Fds.closeQuietly(manager);
    }
  }

  private static String nextMessage(int fd) throws Exception {
    short[] rev = new short[1];
    // Bounded: a daemon that never says it is ready fails the test instead of hanging it.
    assertEquals(1, io.modelcache.os.Sockets.poll(new int[] {fd}, rev, 60_000), "no message within 60 s");
    return new String(io.modelcache.os.Sockets.receive(fd, 4096).data(), StandardCharsets.UTF_8);
  }

  @Test
  void unitKeepsFuseConnectionsInItsDescriptorStore() throws Exception {
    String unit = Files.readString(UNIT);
    assertTrue(unit.contains("\nNotifyAccess=main\n"), unit);
    assertTrue(unit.contains("\nFileDescriptorStoreMax=4096\n"), unit);
  }

  @Test
  void unitRunsTheDaemonAndStopsCleanly() throws Exception {
    String unit = Files.readString(UNIT);
    assertTrue(unit.contains("ExecStart=/usr/local/bin/modelcache daemon"), unit);
    assertTrue(unit.contains("Restart=on-failure"));
    assertTrue(unit.contains("KillSignal=SIGTERM"));
    assertTrue(unit.contains("LimitNOFILE="));
    assertTrue(unit.contains("DeviceAllow=/dev/fuse rw"));
    assertTrue(unit.contains("CapabilityBoundingSet=CAP_SYS_ADMIN"));
    // 2 MiB pipes for spliced 1 MiB READ replies (SpliceReply): above pipe-max-size without it.
    assertTrue(unit.lines().anyMatch(l -> l.startsWith("CapabilityBoundingSet=") && l.contains(" CAP_SYS_RESOURCE")), unit);
  }
}
