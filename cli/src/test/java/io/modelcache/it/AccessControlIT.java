package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15's acceptance test: real users and a real group made here (groupadd, useradd), a daemon
 * whose socket is open to that group ({@code control.group}), and the launcher run as those users
 * with setpriv. A member mounts into her own directory and reads exact bytes; every refusal is one
 * exact line with exit code 13; a member of {@code control.adminGroup} may run cache administration;
 * a user outside the group is told which group grants access.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AccessControlIT {
  static final int DENIED = 13;

  @TempDir static Path tmp;
  RegistryHarness registry;
  PushedModel model;
  DaemonProcess daemon;
  Path launcher;
  /** Unique names, so parallel runs and leftovers of a killed run never collide. */
  final String tag = String.format("%06x", ThreadLocalRandom.current().nextInt(1 << 24));
  final String group = "mcg" + tag;
  final String alice = "mca" + tag;
  final String bob = "mcb" + tag;
  final String admins = "mcx" + tag;
  final String carol = "mcc" + tag;
  final List<String[]> cleanup = new ArrayList<>();
  int aliceUid;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    boolean root = "0".equals(sh("id", "-u").strip());
    boolean tools = Files.isExecutable(Path.of("/usr/sbin/useradd")) && Files.isExecutable(Path.of("/usr/sbin/groupadd"));
    if (!root || !tools) {
      System.err.println("\n*** SKIPPING ACCESS CONTROL TESTS: they need root and useradd/groupadd ***\n");
    }
    Assumptions.assumeTrue(root && tools, "needs root, useradd and groupadd");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));

    mustRun("/usr/sbin/groupadd", group);
    cleanup.add(new String[] {"/usr/sbin/groupdel", group});
    mustRun("/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-N", "-G", group, alice);
    cleanup.add(0, new String[] {"/usr/sbin/userdel", alice});
    mustRun("/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-N", bob);
    cleanup.add(0, new String[] {"/usr/sbin/userdel", bob});
    mustRun("/usr/sbin/groupadd", admins);
    cleanup.add(new String[] {"/usr/sbin/groupdel", admins});
    mustRun("/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-N", "-G", group + "," + admins, carol);
    cleanup.add(0, new String[] {"/usr/sbin/userdel", carol});
    aliceUid = Integer.parseInt(sh("id", "-u", alice).strip());
    launcher = reachableLauncher();

    registry = RegistryHarness.start(tmp.resolve("registry"));
    model = PushedModel.push(registry, tmp.resolve("model"), "models/access:v1",
        new SyntheticModel.Spec(4L << 20, 2, "BF16", 4, 15));
    Path home = tmp.resolve("home");
    Files.createDirectories(home);
    Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx--x--x")); // as systemd's 0751
    Path cfg = tmp.resolve("config.yaml");
    Files.writeString(cfg, "control:\n  group: " + group + "\n  adminGroup: " + admins + "\nmounts:\n  allowOther: false\n");
    Path mountsD = Files.createDirectories(home.resolve("mounts.d"));
    Path declared = Files.createDirectories(tmp.resolve("declared"));
    Path file = Files.writeString(mountsD.resolve("alice.yaml"),
        "reference: " + model.ref() + "\nmountpoint: " + declared + "\n");
    mustRun("chown", alice, file.toString());
    daemon = new DaemonProcess(home, "--config", cfg.toString(), "--cache-size", "1G", "--chunk-size", "256K").start();
  }

  @AfterAll
  void tearDown() throws Exception {
    try {
      if (daemon != null) {
        daemon.stop();
        Files.writeString(Path.of("target/AccessControlIT-daemon.log"), daemon.log()); // for a failure's post-mortem
      }
      if (registry != null) {
        registry.close();
      }
    } finally {
      for (String[] c : cleanup) {
        run(null, c); // best effort: userdel, then groupdel
      }
    }
  }

  @Test
  void whoMayDoWhat() throws Exception {
    String home = daemon.home.toString();
    Path rootMnt = Files.createDirectories(tmp.resolve("root-mnt"));
    Cli.ok("mount", "--home", home, model.ref(), rootMnt.toString());

    Path aliceDir = Files.createDirectories(tmp.resolve("alice"));
    mustRun("chown", alice, aliceDir.toString());
    Path mine = Files.createDirectories(aliceDir.resolve("model"));
    mustRun("chown", alice, mine.toString());

    // A member mounts into her own directory and reads exact bytes.
    Cli.Result m = as(alice, "mount", "--home", home, model.ref(), mine.toString());
    assertEquals(0, m.exit(), m.err());
    assertEquals("mounted " + model.ref() + " (" + model.artifact().manifest().digest() + ") at " + mine, m.out().strip());
    for (Map.Entry<String, String> e : model.sha().entrySet()) {
      Cli.Result sum = asCommand(alice, "sha256sum", mine.resolve(e.getKey()).toString());
      assertEquals(0, sum.exit(), sum.err());
      assertEquals(e.getValue(), sum.out().split(" ")[0], e.getKey());
    }
    // Her mount is hers: nosuid, nodev, her user_id; without allowOther nobody else may enter it.
    String info = mountInfo(mine);
    assertTrue(info.contains("nosuid") && info.contains("nodev") && info.contains("user_id=" + aliceUid), info);
    String shard = model.sha().keySet().iterator().next();
    Cli.Result other = asCommand(bob, "sha256sum", mine.resolve(shard).toString());
    assertNotEquals(0, other.exit());
    assertTrue(other.err().contains("Permission denied"), other.err());

    // A crash and a restart keep it hers: remounted with her user_id, readable by her, hers to unmount.
    daemon.kill();
    daemon.start();
    assertTrue(mountInfo(mine).contains("user_id=" + aliceUid), mountInfo(mine));
    Cli.Result again = asCommand(alice, "sha256sum", mine.resolve(shard).toString());
    assertEquals(0, again.exit(), again.err() + daemon.log());
    assertEquals(model.sha().get(shard), again.out().split(" ")[0]);

    // She cannot mount over a directory she does not own, nor through a link to one.
    Path notHers = Files.createDirectories(tmp.resolve("not-hers"));
    Files.setPosixFilePermissions(notHers, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertRefused("modelcache: cannot mount at " + notHers + ": you do not own it",
        as(alice, "mount", "--home", home, model.ref(), notHers.toString()));
    Path link = aliceDir.resolve("link");
    mustRun("ln", "-s", notHers.toString(), link.toString());
    mustRun("chown", "-h", alice, link.toString());
    assertRefused("modelcache: cannot mount at " + link + ": it is a symbolic link",
        as(alice, "mount", "--home", home, model.ref(), link.toString()));

    // She cannot unmount root's mount, nor run cache administration.
    assertRefused("modelcache: cannot unmount " + rootMnt + ": it was mounted by uid 0, not by you",
        as(alice, "umount", "--home", home, rootMnt.toString()));
    assertRefused("modelcache: cannot run cache gc: only root or members of group " + admins + " may",
        as(alice, "cache", "gc", "--home", home));
    // A member of control.adminGroup administers the cache.
    Cli.Result gc = as(carol, "cache", "gc", "--home", home);
    assertEquals(0, gc.exit(), gc.err());
    assertTrue(FuseMountsView.isMountPoint(rootMnt), "root's mount is still there");

    // ls works for her and shows both mounts.
    Cli.Result ls = as(alice, "ls", "--home", home);
    assertEquals(0, ls.exit(), ls.err());
    assertTrue(ls.out().contains(rootMnt.toString()) && ls.out().contains(mine.toString()), ls.out());
    var mounts = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(as(alice, "ls", "--json", "--home", home).out()).path("mounts");
    Map<String, Integer> owners = new java.util.TreeMap<>();
    mounts.forEach(n -> owners.put(n.path("mountpoint").asText(), n.path("ownerUid").asInt(-1)));
    assertEquals(Map.of(rootMnt.toString(), 0, mine.toString(), aliceUid), owners);

    // A user outside the group is told which group grants access.
    assertRefused("modelcache: permission denied on the control socket " + daemon.home.resolve("modelcache.sock")
        + ": members of group " + group + " may use it (ask an administrator to add you, then log in again)",
        as(bob, "ls", "--home", home));

    // She unmounts her own mount.
    Cli.Result u = as(alice, "umount", "--home", home, mine.toString());
    assertEquals(0, u.exit(), u.err());
    assertFalse(FuseMountsView.isMountPoint(mine), "her mount is gone");
    Cli.ok("umount", "--home", home, rootMnt.toString());

    // Every mount, unmount and refusal is in the daemon's log with the caller's uid and pid.
    String log = daemon.log();
    assertTrue(log.matches("(?s).*mount of " + java.util.regex.Pattern.quote(model.ref() + " at " + mine)
        + " for uid " + aliceUid + " pid \\d+.*"), log);
    assertTrue(log.matches("(?s).*unmount of " + java.util.regex.Pattern.quote(mine.toString()) + " for uid "
        + aliceUid + " pid \\d+.*"), log);
    assertTrue(log.matches("(?s).*refused cache-gc for uid " + aliceUid + " pid \\d+: cannot run cache gc: only root or members of group "
        + admins + " may.*"), log);
    // A mounts.d file that is not root's is ignored, in one line (however often mounts.d is read).
    Path decl = daemon.home.resolve("mounts.d").resolve("alice.yaml");
    String ignored = "ignoring " + decl + ": owned by uid " + aliceUid + ", not root (mounts.d files must be root's)";
    for (int i = 0; i < 300 && count(daemon.log(), ignored) < 2; i++) {
      Thread.sleep(100); // mounts.d is read every 2 s
    }
    log = daemon.log();
    assertEquals(2, count(log, ignored), "once per daemon run (the daemon ran twice): " + log);
    assertFalse(FuseMountsView.isMountPoint(tmp.resolve("declared")));
  }

  private static int count(String text, String line) {
    return text.split(java.util.regex.Pattern.quote(line), -1).length - 1;
  }

  /** The topmost mount at {@code p} as /proc/self/mountinfo lists it. */
  private static String mountInfo(Path p) throws IOException {
    return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
        .filter(l -> l.split(" ")[4].equals(p.toString())).reduce((first, second) -> second).orElse("");
  }

  private static void assertRefused(String line, Cli.Result r) {
    assertEquals(DENIED, r.exit(), r.err());
    assertEquals(line, r.errLine());
    assertEquals("", r.out());
  }

  /** The launcher as {@code user}: setpriv with her uid, her primary and supplementary groups. */
  private Cli.Result as(String user, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(launcher.toString()));
    cmd.addAll(List.of(args));
    return asCommand(user, cmd.toArray(String[]::new));
  }

  private Cli.Result asCommand(String user, String... cmd) throws Exception {
    List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + user, "--regid=users", "--init-groups", "--"));
    full.addAll(List.of(cmd));
    return run(Map.of("HOME", tmp.toString()), full.toArray(String[]::new));
  }

  /**
   * The built launcher if other users can reach it, else a copy (launcher, jar, AOT cache) in a
   * directory they can: the worktree may sit under a directory only root may enter.
   */
  private Path reachableLauncher() throws Exception {
    Path l = Cli.launcher().toAbsolutePath();
    if (asCommand(bob, "test", "-x", l.toString(), "-a", "-r", l.resolveSibling("modelcache.jar").toString()).exit() == 0) {
      return l;
    }
    Path dir = Files.createDirectories(tmp.resolve("bin"));
    for (String f : List.of("modelcache", "modelcache.jar", "modelcache.aot", "modelcache.aot.stamp",
        "modelcache-transfer.aot", "modelcache-transfer.aot.stamp")) {
      if (Files.exists(l.resolveSibling(f))) {
        Files.copy(l.resolveSibling(f), dir.resolve(f), StandardCopyOption.COPY_ATTRIBUTES);
      }
    }
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    mustRun("chmod", "-R", "a+rX", dir.toString());
    return dir.resolve("modelcache");
  }

  private static String sh(String... cmd) throws Exception {
    Cli.Result r = run(null, cmd);
    assertEquals(0, r.exit(), String.join(" ", cmd) + ": " + r.err());
    return r.out();
  }

  private static void mustRun(String... cmd) throws Exception {
    sh(cmd);
  }

  private static Cli.Result run(Map<String, String> env, String... cmd) throws IOException, InterruptedException {
    Path out = Files.createTempFile("ac-out", ".txt");
    Path err = Files.createTempFile("ac-err", ".txt");
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
      if (env != null) {
        pb.environment().putAll(env);
      }
      Process p = pb.start();
      p.getOutputStream().close();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("timed out: " + String.join(" ", cmd));
      }
      return new Cli.Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  /** Mount points as this process's namespace sees them (root cannot look inside a user's mount). */
  static final class FuseMountsView {
    static boolean isMountPoint(Path p) throws IOException {
      return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().anyMatch(l -> l.split(" ")[4].equals(p.toString()));
    }
  }
}
