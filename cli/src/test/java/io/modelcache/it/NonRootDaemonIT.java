package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10: the whole daemon as a user that is not root. A real registry on 127.0.0.1 and a pushed
 * model; then {@code modelcache daemon} runs as nobody (setpriv, no groups, no capabilities) from a
 * copy of the launcher nobody may read, with a home nobody owns, and every client command runs as
 * nobody too. The kernel transport mounts through the setuid fusermount3; nobody reads every file
 * exact (sha256) and maps a shard; status and ls name the mount and its transport; the daemon says
 * once that passthrough is unavailable without CAP_SYS_ADMIN; umount empties the mountpoint; the
 * log holds no exception. Where /dev/fuse is root's alone (0600), the daemon runs in a private mount
 * namespace with a 0666 node of the same device (as on a usual install), and nobody's commands and
 * readers enter that namespace. Skipped, loudly, without root, setpriv/unshare/nsenter, a usable
 * /dev/fuse or a setuid fusermount3.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NonRootDaemonIT {
  static final int NOBODY = 65534;
  static final String UID = Integer.toString(NOBODY);

  @TempDir static Path tmp;
  RegistryHarness registry;
  PushedModel model;
  /** The registry at a fixed rate, so that a cold read lasts a few seconds (the restart test). */
  SlowLink link;
  /** The launcher and jar, copied where nobody may read and run them. */
  Path launcher;
  /** Classes of the mmap reader, readable by nobody. */
  Path readerClasses;
  /** The namespace script (or none, when nobody may open /dev/fuse as it is). */
  List<String> namespace = List.of();

  @BeforeAll
  void setUp() throws Exception {
    boolean root = "root".equals(System.getProperty("user.name"));
    List<String> missing = new ArrayList<>();
    for (String tool : List.of("/usr/bin/setpriv", "/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/sha256sum")) {
      if (!Files.isExecutable(Path.of(tool))) {
        missing.add(tool);
      }
    }
    String fusermount = setuidFusermount3();
    boolean dev = Files.exists(Path.of("/dev/fuse"));
    if (!root || !missing.isEmpty() || fusermount != null || !dev) {
      System.err.println("\n*** SKIPPING NonRootDaemonIT: needs root (to become nobody), /dev/fuse, setpriv, unshare, nsenter"
          + " and a setuid-root fusermount3" + (root ? "" : " (not root)") + (dev ? "" : " (no /dev/fuse)")
          + (missing.isEmpty() ? "" : " (missing " + missing + ")") + (fusermount == null ? "" : " (" + fusermount + ")")
          + " ***\n");
    }
    Assumptions.assumeTrue(root && missing.isEmpty() && fusermount == null && dev,
        "needs root, /dev/fuse, setpriv, unshare, nsenter and a setuid fusermount3");
    Fuse.assumeAvailable();
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    registry = RegistryHarness.start(tmp.resolve("registry"));
    model = PushedModel.push(registry, tmp.resolve("model"), "models/nonroot:v1",
        new SyntheticModel.Spec(24L << 20, 2, "BF16", 4, 11));
    link = new SlowLink(Integer.parseInt(registry.hostPort().substring(registry.hostPort().lastIndexOf(':') + 1)),
        2L << 20); // 2 MiB/s a connection: with fetch.concurrency 2, two cold 12 MiB shards take 6 s or more
    launcher = readableLauncher(tmp.resolve("bin"));
    readerClasses = readableReaderClasses(tmp.resolve("cp"));
    if ((Integer) Files.getAttribute(Path.of("/dev/fuse"), "unix:mode") % 8 == 0) {
      // /dev/fuse is root's alone here (0600): no user may mount FUSE at all. The daemon gets a
      // private mount namespace with a 0666 node of the same device; its mounts end with it.
      Path devDir = Files.createDirectory(tmp.resolve("dev"));
      Path script = Files.writeString(tmp.resolve("ns.sh"), "#!/bin/sh\nset -e\nmount -t tmpfs -o mode=755 devs " + devDir
          + "\nmknod -m 666 " + devDir + "/fuse c 10 229\nmount --bind " + devDir + "/fuse /dev/fuse\nexec \"$@\"\n");
      Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
      namespace = List.of("/usr/bin/unshare", "--mount", "--propagation", "private", script.toString());
    }
  }

  @AfterAll
  void tearDown() throws IOException {
    if (link != null) {
      link.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  /** Why fusermount3 cannot mount for a user here, or null. */
  private static String setuidFusermount3() throws IOException {
    for (String p : List.of("/usr/bin/fusermount3", "/bin/fusermount3")) {
      Path f = Path.of(p);
      if (Files.isExecutable(f)) {
        Map<String, Object> a = Files.readAttributes(f, "unix:mode,uid");
        return (Integer) a.get("uid") == 0 && ((Integer) a.get("mode") & 04000) != 0 ? null : p + " is not setuid root";
      }
    }
    return "fusermount3 is not installed";
  }

  /** The launcher and its jar copied into {@code dir}, 0755/0644 (the build's tree need not be nobody's to read). */
  private static Path readableLauncher(Path dir) throws IOException {
    Files.createDirectories(dir);
    Path built = Cli.launcher().toAbsolutePath();
    Path l = Files.copy(built, dir.resolve("modelcache"));
    Files.copy(built.resolveSibling("modelcache.jar"), dir.resolve("modelcache.jar"), StandardCopyOption.COPY_ATTRIBUTES);
    Files.setPosixFilePermissions(l, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.setPosixFilePermissions(dir.resolve("modelcache.jar"), PosixFilePermissions.fromString("rw-r--r--"));
    return l;
  }

  /** {@link ReaderChild.MmapHash} (JDK classes only) copied where nobody may load it. */
  private static Path readableReaderClasses(Path dir) throws Exception {
    Path classes = Path.of(ReaderChild.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path pkg = Files.createDirectories(dir.resolve("io/modelcache/it"));
    for (String c : List.of("ReaderChild.class", "ReaderChild$MmapHash.class")) {
      Files.copy(classes.resolve("io/modelcache/it").resolve(c), pkg.resolve(c));
    }
    try (var s = Files.walk(dir)) {
      for (Path p : s.toList()) {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
      }
    }
    return dir;
  }

  /** A directory nobody owns (a home, a mountpoint). */
  private static Path nobodys(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.setAttribute(dir, "unix:uid", NOBODY);
    Files.setAttribute(dir, "unix:gid", NOBODY);
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    return dir;
  }

  private static List<String> asNobody(Path home, List<String> cmd) {
    List<String> c = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + UID, "--regid=" + UID, "--clear-groups",
        "/usr/bin/env", "HOME=" + home));
    c.addAll(cmd);
    return c;
  }

  private DaemonProcess daemon(Path home, String... args) throws Exception {
    return unstarted(home, args).start();
  }

  /** nobody's daemon on {@code home}, not started, in its own mount namespace where one is needed. */
  private DaemonProcess unstarted(Path home, String... args) throws Exception {
    List<String> under = new ArrayList<>(namespace);
    under.addAll(asNobody(home, List.of()));
    List<String> a = new ArrayList<>(List.of("--cache-size", "256M"));
    a.addAll(List.of(args));
    return new DaemonProcess(nobodys(home), a.toArray(String[]::new)).launcher(launcher)
        .under(under.toArray(String[]::new));
  }

  /** {@code cmd} as nobody in the mount namespace of process {@code pid}. */
  private static List<String> inNamespaceOf(long pid, Path home, List<String> cmd) {
    List<String> c = new ArrayList<>(List.of("/usr/bin/nsenter", "--mount=/proc/" + pid + "/ns/mnt"));
    c.addAll(asNobody(home, cmd));
    return c;
  }

  /** What a command run as nobody in the daemon's mount namespace left behind. */
  private static Cli.Result inDaemon(DaemonProcess d, List<String> cmd) throws IOException, InterruptedException {
    List<String> c = inNamespaceOf(d.pid(), d.home, cmd);
    Path out = Files.createTempFile("nonroot-out", ".txt");
    Path err = Files.createTempFile("nonroot-err", ".txt");
    try {
      Process p = new ProcessBuilder(c).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      p.getOutputStream().close();
      if (!p.waitFor(180, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("timed out after 180 s: " + c);
      }
      return new Cli.Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  /** The launcher as nobody in the daemon's namespace. */
  private Cli.Result cli(DaemonProcess d, String... args) throws IOException, InterruptedException {
    List<String> c = new ArrayList<>(List.of(launcher.toString()));
    c.addAll(List.of(args));
    c.addAll(List.of("--home", d.home.toString()));
    return inDaemon(d, c);
  }

  private Cli.Result cliOk(DaemonProcess d, String... args) throws IOException, InterruptedException {
    Cli.Result r = cli(d, args);
    assertEquals(0, r.exit(), "modelcache " + String.join(" ", args) + " as nobody: " + r.err());
    return r;
  }

  /** The mountinfo line of {@code mp} in the daemon's namespace, or null. */
  private static String mountInfo(DaemonProcess d, Path mp) throws IOException {
    return mountInfo(d.pid(), mp);
  }

  /** The mountinfo line of {@code mp} in the mount namespace of process {@code pid}, or null. */
  private static String mountInfo(long pid, Path mp) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/mountinfo"))) {
      if (line.split(" ")[4].equals(mp.toString())) {
        return line;
      }
    }
    return null;
  }

  private static final String PASSTHROUGH_LINE = "FUSE passthrough is unavailable: FUSE_DEV_IOC_BACKING_OPEN needs"
      + " CAP_SYS_ADMIN, which this daemon (uid " + UID + ") does not have; files are served by the daemon (no passthrough)";

  @Test
  void nobodysDaemonMountsReadsExactAndUnmounts() throws Exception {
    Path home = tmp.resolve("home-nobody");
    Path a = nobodys(tmp.resolve("mnt-a")).toRealPath();
    Path b = nobodys(tmp.resolve("mnt-b")).toRealPath();
    String transport = "kernel (fusermount3 as uid " + UID + ")";
    DaemonProcess d = daemon(home, "--no-allow-other");
    try {
      // The daemon runs as nobody, with no capability at all.
      String status = Files.readString(Path.of("/proc/" + d.pid() + "/status"));
      assertTrue(status.lines().anyMatch(l -> l.matches("Uid:\\s+" + UID + "\\s+" + UID + "\\s+" + UID + "\\s+" + UID)), status);
      assertTrue(status.lines().anyMatch(l -> l.matches("CapEff:\\s+0+")), status);

      // Two mounts of the model: the second's files are complete in the cache when they are opened,
      // which is when a daemon with CAP_SYS_ADMIN would hand them to the kernel (passthrough).
      for (Path mp : List.of(a, b)) {
        Cli.Result m = cliOk(d, "mount", model.ref(), mp.toString());
        assertTrue(m.out().startsWith("mounted " + model.ref() + " (" + model.artifact().manifest().digest() + ") at " + mp),
            m.out());
        String info = mountInfo(d, mp);
        assertTrue(info != null && info.contains(" - fuse.modelcache ") && info.contains("user_id=" + UID)
            && info.contains("ro,nosuid,nodev") && !info.contains("allow_other"), String.valueOf(info));

        // Every file, read by nobody through the kernel, hashes as the source does.
        Map<String, String> read = new TreeMap<>();
        for (String rel : model.sha().keySet()) {
          Cli.Result r = inDaemon(d, List.of("/usr/bin/sha256sum", mp.resolve(rel).toString()));
          assertEquals(0, r.exit(), rel + ": " + r.err());
          read.put(rel, r.out().split(" ")[0]);
        }
        assertEquals(model.sha(), read, "sha256 of every file read through " + mp + " by nobody");

        // A shard mapped (MAP_SHARED) and hashed by nobody in its own JVM.
        String shard = model.sha().keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
        Cli.Result mm = inDaemon(d, List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", readerClasses.toString(),
            ReaderChild.MmapHash.class.getName(), mp.resolve(shard).toString()));
        assertEquals(0, mm.exit(), mm.err());
        assertEquals(model.sha().get(shard), mm.out().strip(), "mmap of " + shard + " through " + mp);
      }

      // status and ls (as nobody) name each mount and its transport.
      String st = cliOk(d, "status").out();
      for (Path mp : List.of(a, b)) {
        assertTrue(st.contains(mp.toString()), st);
      }
      assertEquals(2, count(st, "    transport: " + transport + "\n"), st);
      String ls = cliOk(d, "ls").out();
      assertTrue(ls.contains(model.ref()) && ls.contains(a.toString()) && ls.contains(b.toString()), ls);
      String lsJson = cliOk(d, "ls", "--json").out();
      assertEquals(2, count(lsJson, "\"transport\" : \"" + transport + "\""), lsJson);

      for (Path mp : List.of(a, b)) {
        Cli.Result u = cli(d, "umount", mp.toString());
        assertEquals(0, u.exit(), u.err());
        assertEquals(null, mountInfo(d, mp), "unmounted in the daemon's namespace");
        Cli.Result empty = inDaemon(d, List.of("/bin/ls", "-A", mp.toString()));
        assertEquals(0, empty.exit(), empty.err());
        assertEquals("", empty.out(), "the mountpoint is empty after umount, as nobody sees it");
      }

      String log = d.log();
      assertEquals(2, count(log, "with fusermount3 as uid " + UID + " (device "), log);
      assertEquals(1, count(log, PASSTHROUGH_LINE), "the passthrough line, once per daemon:\n" + log);
      assertEquals(0, count(log, "FUSE_DEV_IOC_BACKING_OPEN refused"), log);
      assertEquals(1, count(log, "FUSE transport: kernel"), log);
      assertNoException(log);
      d.stop();
      assertNoException(d.log());
    } finally {
      d.kill();
    }
    for (Path mp : List.of(a, b)) {
      try (var s = Files.list(mp)) {
        assertEquals(0, s.count(), mp + " is empty");
      }
    }
    assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(tmp.toString()), "no mount left behind");
  }

  /**
   * Without {@code user_allow_other} in /etc/fuse.conf, fusermount3 refuses allow_other (the
   * default, {@code mounts.allowOther}): one line naming the fix, exit 11, no stack trace.
   */
  @Test
  void allowOtherWithoutUserAllowOtherIsOneLine() throws Exception {
    Path conf = Path.of("/etc/fuse.conf");
    boolean allowed = Files.isReadable(conf)
        && Files.readAllLines(conf).stream().anyMatch(l -> l.strip().equals("user_allow_other"));
    Assumptions.assumeFalse(allowed, "/etc/fuse.conf has user_allow_other: fusermount3 allows allow_other here");
    Path home = tmp.resolve("home-allow-other");
    Path mp = nobodys(tmp.resolve("mnt-allow-other")).toRealPath();
    DaemonProcess d = daemon(home);
    try {
      Cli.Result r = cli(d, "mount", model.ref(), mp.toString());
      assertEquals(11, r.exit(), r.err());
      assertEquals("modelcache: cannot mount " + mp + ": fusermount3 refused a FUSE mount on " + mp
          + ": option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf (add user_allow_other to"
          + " /etc/fuse.conf, or set mounts.allowOther: false or start the daemon with --no-allow-other so that only uid "
          + UID + " may read its mounts)", r.errLine());
      assertEquals(null, mountInfo(d, mp));
      assertFalse(cliOk(d, "ls", "--json").out().contains(mp.toString()));
      assertNoException(d.log());
    } finally {
      d.stop();
      d.kill();
    }
  }

  /**
   * Issue 13 as nobody: a mount outlives nobody's daemon. The daemon keeps its mounts across a
   * restart (restart.keepMounts, the default for the kernel transport), so its connection is kept
   * by a holder process it starts, which runs as nobody too. Two readers as nobody (sha256sum of
   * one shard, an mmap hash of the other) read cold through a slow link when the daemon is killed
   * (SIGKILL); the mount stays mounted while no daemon runs; a daemon started again as nobody on the
   * same home (in the namespace the holder keeps) takes the live mount over, the readers finish
   * exact, and umount is still the teardown, after which the holder exits.
   */
  @Test
  @org.junit.jupiter.api.Timeout(300)
  void nobodysKeptMountOutlivesAKilledDaemon() throws Exception {
    Path home = tmp.resolve("home-restart");
    Path mp = nobodys(tmp.resolve("mnt-restart")).toRealPath();
    Path config = Files.writeString(tmp.resolve("restart.yaml"),
        "fetch:\n  concurrency: 2\nreadAhead:\n  prefetch: false\n  backgroundFill: false\n"); // restart.keepMounts: on by default
    Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-r--r--"));
    String ref = "127.0.0.1:" + link.port() + "/models/nonroot:v1";
    List<String> shards = model.sha().keySet().stream().filter(n -> n.endsWith(".safetensors")).sorted().toList();
    Path sumFile = mp.resolve(shards.get(0));
    Path mmapFile = mp.resolve(shards.get(1));
    DaemonProcess d = unstarted(home, "--no-allow-other", "--config", config.toString(), "--chunk-size", "256K")
        .keepingMounts();
    List<Process> readers = List.of();
    try {
      d.start();
      cliOk(d, "mount", ref, mp.toString());
      String info = mountInfo(d, mp);
      assertTrue(info != null && info.contains(" - fuse.modelcache ") && info.contains("user_id=" + UID), info);
      String device = info.split(" ")[2];
      String keptBy = "    restart: stays mounted (connection kept by the holder process (" + home.resolve("holder.sock")
          + ", grace ";
      String st = cliOk(d, "status").out();
      assertTrue(st.contains(keptBy), st);
      String log = d.log();
      assertTrue(log.contains("their FUSE connections are kept by the holder process"), log);

      // The holder runs as nobody: it is the daemon's child, with none of root's rights.
      ProcessHandle holder = DaemonProcess.holderOf(home).orElseThrow(() -> new AssertionError("no holder:\n" + log));
      String holderStatus = Files.readString(Path.of("/proc/" + holder.pid() + "/status"));
      assertTrue(holderStatus.lines().anyMatch(l -> l.matches("Uid:\\s+" + UID + "\\s+" + UID + "\\s+" + UID + "\\s+" + UID)),
          holderStatus);
      assertTrue(holderStatus.lines().anyMatch(l -> l.matches("CapEff:\\s+0+")), holderStatus);

      Process sum = new ProcessBuilder(inNamespaceOf(d.pid(), home, List.of("/usr/bin/sha256sum", sumFile.toString())))
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
      Process mmap = new ProcessBuilder(inNamespaceOf(d.pid(), home, List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:TieredStopAtLevel=1",
          "-XX:+UseSerialGC", "-Xshare:auto", "-cp", readerClasses.toString(), ReaderChild.MmapHash.class.getName(),
          mmapFile.toString()))).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
      readers = List.of(sum, mmap);
      Thread.sleep(2000); // under way: the link passes 2 MiB/s a connection
      assertTrue(sum.isAlive() && mmap.isAlive(), "a reader finished before the daemon was killed: " + ended(readers)
          + "\n" + d.log());

      d.kill(); // SIGKILL; the holder is left running (keepingMounts)
      assertTrue(holder.isAlive(), "the holder outlives the daemon");
      String kept = mountInfo(holder.pid(), mp);
      assertTrue(kept != null && kept.split(" ")[2].equals(device), "still mounted while no daemon runs: " + kept);
      assertTrue(sum.isAlive() && mmap.isAlive(), "the readers wait for the next daemon");

      // Started again as nobody on the same home, in the mount namespace the holder keeps alive.
      d.under(inNamespaceOf(holder.pid(), home, List.of()).toArray(String[]::new)).start();
      String sha0 = model.sha().get(shards.get(0));
      String sha1 = model.sha().get(shards.get(1));
      assertEquals(sha0 + "  " + sumFile, finish(sum), "sha256sum as nobody across the restart");
      assertEquals(sha1, finish(mmap), "mmap hash as nobody across the restart (no SIGBUS)");
      assertTrue(d.log().contains("took over the live mount of " + ref + " at " + mp), d.log());
      String after = mountInfo(d, mp);
      assertTrue(after != null && after.split(" ")[2].equals(device), "the same mount: taken over, not remounted: " + after);
      st = cliOk(d, "status").out();
      assertTrue(st.contains(keptBy), st);
      assertTrue(st.contains("    transport: kernel (fusermount3 as uid " + UID + ")\n"), st);
      assertEquals(holder.pid(), DaemonProcess.holderOf(home).map(ProcessHandle::pid).orElse(-1L),
          "the same holder keeps the connection for the new daemon");

      Cli.Result u = cli(d, "umount", mp.toString());
      assertEquals(0, u.exit(), u.err());
      assertEquals(null, mountInfo(d, mp), "umount is still the teardown");
      assertNoException(d.log());
      d.stop();
      holder.onExit().get(30, TimeUnit.SECONDS); // it holds nothing now: it exits
    } finally {
      for (Process p : readers) {
        p.destroyForcibly();
      }
      d.kill();
      DaemonProcess.killHolder(home); // its namespace, and any mount in it, end with it
    }
    try (var s = Files.list(mp)) {
      assertEquals(0, s.count(), mp + " is empty");
    }
    assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(tmp.toString()), "no mount left behind");
  }

  /** Exit status and output of the readers that ended. */
  private static String ended(List<Process> readers) throws IOException {
    StringBuilder b = new StringBuilder();
    for (Process p : readers) {
      if (!p.isAlive()) {
        b.append(p.info().command().orElse("?")).append(" exited ").append(p.exitValue()).append(": ")
            .append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip()).append(" / ")
            .append(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip()).append('\n');
      }
    }
    return b.toString();
  }

  private static String finish(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "reader did not finish");
    assertEquals(0, p.exitValue(), "reader exit status; out: " + out + "; err: " + err);
    return out;
  }

  private static void assertNoException(String log) {
    assertFalse(log.contains("Exception") || log.contains("Error:") || log.contains("\tat "),
        "the daemon log holds an exception:\n" + log);
  }

  private static int count(String text, String line) {
    int n = 0;
    for (int i = text.indexOf(line); i >= 0; i = text.indexOf(line, i + 1)) {
      n++;
    }
    return n;
  }
}
