package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.safetensors.SyntheticModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon on a node whose FUSE pieces are broken: it runs in a private mount namespace where an
 * empty file is bind-mounted over {@code /dev/fuse} and/or {@code libfuse.so.2}. It starts, logs one
 * line per missing piece its transport needs (libfuse2 only for jnr), answers a mount with one line
 * and exit code 11, keeps serving other commands, and its log holds no exception. Without
 * CAP_SYS_ADMIN, mount(2) refuses the kernel transport's mount: one line, exit 11. A busy
 * mountpoint is one line and exit 2 on both transports.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FusePrerequisitesIT {
  @TempDir static Path tmp;
  Path libfuse;
  String ref;

  @BeforeAll
  void setUp() throws Exception {
    boolean root = "root".equals(System.getProperty("user.name"));
    boolean unshare = Files.isExecutable(Path.of("/usr/bin/unshare"));
    if (!root || !unshare) {
      System.err.println("\n*** SKIPPING FusePrerequisitesIT: needs root and unshare(1) for a private mount namespace ***\n");
    }
    Assumptions.assumeTrue(root && unshare, "needs root and unshare(1)");
    libfuse = libfuse2();
    Path model = tmp.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(1L << 20, 1, "BF16", 2, 5));
    ref = "oci:" + tmp.resolve("layout") + ":v1";
    Cli.ok("push", model.toString(), ref);
  }

  /** The real file behind libfuse.so.2, from the dynamic linker's cache (what dlopen finds). */
  private static Path libfuse2() throws IOException, InterruptedException {
    Process p = new ProcessBuilder("/sbin/ldconfig", "-p").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    for (String line : out.split("\n")) {
      if (line.strip().startsWith("libfuse.so.2 ") && line.contains("x86-64") && line.contains("=> ")) {
        return Path.of(line.substring(line.indexOf("=> ") + 3).strip()).toRealPath();
      }
    }
    throw new AssertionError("libfuse.so.2 is not installed (.ci/install installs libfuse2):\n" + out);
  }

  /** A script that bind-mounts an empty file over each of {@code broken}, then runs its arguments. */
  private String[] namespaceWith(String name, List<Path> broken) throws IOException {
    Path empty = Files.createFile(tmp.resolve(name + ".empty"));
    StringBuilder sh = new StringBuilder("#!/bin/sh\nset -e\n");
    for (Path b : broken) {
      sh.append("mount --bind ").append(empty).append(' ').append(b).append('\n');
    }
    sh.append("exec \"$@\"\n");
    Path script = tmp.resolve(name + ".sh");
    Files.writeString(script, sh);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    return new String[] {"/usr/bin/unshare", "--mount", "--propagation", "private", script.toString()};
  }

  private static void assertNoException(DaemonProcess d) throws IOException {
    String log = d.log();
    assertFalse(log.contains("Exception") || log.contains("Error:") || log.contains("\tat "),
        "the daemon log holds an exception:\n" + log);
  }

  /** A config file choosing the jnr transport. */
  private static String jnrConfig() throws IOException {
    Path cfg = tmp.resolve("jnr.yaml");
    if (!Files.exists(cfg)) {
      Files.writeString(cfg, "fuse:\n  transport: jnr\n");
    }
    return cfg.toString();
  }

  @Test
  void deviceAndLibraryUnusable() throws Exception {
    Path home = tmp.resolve("home-both");
    Path mp = Files.createDirectories(tmp.resolve("mnt-both"));
    try (DaemonProcess d = new DaemonProcess(home, "--cache-size", "64M")
        .under(namespaceWith("both", List.of(Path.of("/dev/fuse"), libfuse))).start()) {
      String device = "FUSE device /dev/fuse is not usable: not a character device (install fuse3; in a container, pass /dev/fuse)";
      String library = "FUSE library libfuse.so.2 cannot be loaded (install libfuse2)";
      Cli.ok("ls", "--home", home.toString()); // the daemon is up: its start-up check has run
      String log = d.log();
      assertEquals(1, count(log, "FUSE is not usable, mounts will fail: " + device), log);
      assertEquals(0, count(log, library), "the kernel transport does not need libfuse2:\n" + log);
      assertEquals(1, count(log, "FUSE transport: kernel"), log);

      Cli.Result r = Cli.run(120, "mount", "--home", home.toString(), ref, mp.toString());
      assertEquals(11, r.exit(), r.err());
      assertEquals("modelcache: cannot mount " + mp.toRealPath() + ": " + device, r.errLine());
      assertEquals("", r.out());

      Cli.Result ls = Cli.run(60, "ls", "--home", home.toString());
      assertEquals(0, ls.exit(), ls.err());
      assertEquals(0, Cli.run(60, "status", "--home", home.toString()).exit());
      assertFalse(Cli.ok("ls", "--home", home.toString(), "--json").out().contains(mp.toString()));
      assertNoException(d);
    }
  }

  @Test
  void onlyTheLibraryUnusableMattersOnlyForJnr() throws Exception {
    Fuse.assumeAvailable();
    Path home = tmp.resolve("home-lib");
    Path mp = Files.createDirectories(tmp.resolve("mnt-lib"));
    try (DaemonProcess d = new DaemonProcess(home, "--cache-size", "64M", "--config", jnrConfig())
        .under(namespaceWith("lib", List.of(libfuse))).start()) {
      for (int i = 0; i < 2; i++) { // the daemon keeps answering, and answers the same way again
        Cli.Result r = Cli.run(120, "mount", "--home", home.toString(), ref, mp.toString());
        assertEquals(11, r.exit(), r.err());
        assertEquals("modelcache: cannot mount " + mp.toRealPath()
            + ": FUSE library libfuse.so.2 cannot be loaded (install libfuse2)", r.errLine());
      }
      assertEquals(0, Cli.run(60, "ls", "--home", home.toString()).exit());
      assertEquals(1, count(d.log(), "FUSE transport: jnr"), d.log());
      assertNoException(d);
    }
    Path kernelHome = tmp.resolve("home-lib-kernel");
    try (DaemonProcess d = new DaemonProcess(kernelHome, "--cache-size", "64M")
        .under(namespaceWith("lib-kernel", List.of(libfuse))).start()) {
      Cli.ok("mount", "--home", kernelHome.toString(), ref, mp.toString());
      // The mount lives in the daemon's private mount namespace: judge it from the daemon's side.
      assertTrue(Cli.ok("ls", "--home", kernelHome.toString(), "--json").out().contains(mp.toRealPath().toString()));
      assertTrue(d.log().contains("on " + mp.toRealPath() + " (device "), d.log());
      assertTrue(d.log().contains("kernel transport)"), d.log());
      Cli.ok("umount", "--home", kernelHome.toString(), mp.toString());
      assertNoException(d);
    }
  }

  @Test
  void mountRefusedWithoutCapSysAdmin() throws Exception {
    Fuse.assumeAvailable();
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv (util-linux) is needed");
    Path home = tmp.resolve("home-nocap");
    Path mp = Files.createDirectories(tmp.resolve("mnt-nocap"));
    try (DaemonProcess d = new DaemonProcess(home, "--cache-size", "64M")
        .under("/usr/bin/setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin").start()) {
      Cli.Result r = Cli.run(120, "mount", "--home", home.toString(), ref, mp.toString());
      assertEquals(11, r.exit(), r.err());
      assertEquals("modelcache: cannot mount " + mp.toRealPath() + ": mount(2) refused a FUSE mount on "
          + mp.toRealPath() + ": operation not permitted (errno 1; needs root or CAP_SYS_ADMIN)", r.errLine());
      assertFalse(Cli.ok("ls", "--home", home.toString(), "--json").out().contains(mp.toString()));
      assertNoException(d);
    }
  }

  /**
   * A mountpoint something is mounted on (a tmpfs; a FUSE mount whose server is gone, where a stat
   * fails and "does not exist" would be the wrong line): one line naming the directory and what is
   * there, exit 2 (bad input, as a non-empty directory is), the same with either transport.
   */
  @Test
  void aBusyMountpointIsOneLineOnBothTransports() throws Exception {
    Fuse.assumeAvailable();
    Path tmpfs = Files.createDirectories(tmp.resolve("busy-tmpfs")).toRealPath();
    Path stale = Files.createDirectories(tmp.resolve("busy-stale")).toRealPath();
    try {
      sh("mount -t tmpfs -o size=1m busy " + tmpfs);
      // mount(2) of a FUSE connection whose only descriptor closes right after: nobody serves it.
      sh("mount -i -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 stale-test " + stale + " 3<>/dev/fuse");
      for (String transport : List.of("kernel", "jnr")) {
        Path home = tmp.resolve("home-busy-" + transport);
        String[] args = transport.equals("jnr") ? new String[] {"--cache-size", "64M", "--config", jnrConfig()}
            : new String[] {"--cache-size", "64M"};
        try (DaemonProcess d = new DaemonProcess(home, args).start()) {
          Cli.Result r = Cli.run(120, "mount", "--home", home.toString(), ref, tmpfs.toString());
          assertEquals(2, r.exit(), transport + ": " + r.err());
          assertEquals("modelcache: mountpoint " + tmpfs + " is busy: a tmpfs filesystem is already mounted there",
              r.errLine(), transport);
          r = Cli.run(120, "mount", "--home", home.toString(), ref, stale.toString());
          assertEquals(2, r.exit(), transport + ": " + r.err());
          assertEquals("modelcache: mountpoint " + stale + " is busy: a FUSE mount whose server is gone (stale-test)"
              + " is still there; detach it with 'umount -l " + stale + "'", r.errLine(), transport);
          assertEquals(1, count(d.log(), "FUSE transport: " + transport), d.log());
          assertNoException(d);
        }
      }
    } finally {
      sh("umount -l " + tmpfs + " 2>/dev/null; umount -l " + stale + " 2>/dev/null; true");
    }
  }

  private static void sh(String command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS), command);
    assertEquals(0, p.exitValue(), command + ": " + out);
  }

  private static int count(String text, String line) {
    int n = 0;
    for (int i = text.indexOf(line); i >= 0; i = text.indexOf(line, i + 1)) {
      n++;
    }
    return n;
  }
}
