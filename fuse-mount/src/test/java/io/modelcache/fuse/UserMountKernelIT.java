package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel transport in a process that is not root: a child JVM running as nobody (setpriv)
 * mounts the sample tree with fusermount3 (the /dev/fuse descriptor passed back over a unix socket;
 * where the machine's /dev/fuse is root's alone, 0600, on a 0666 node of the same device in a
 * private mount namespace), another process of nobody reads exact bytes through it, and the child
 * unmounts with fusermount3 -u. Skipped, loudly, when the test is not root or setpriv or a setuid
 * fusermount3 is missing.
 */
class UserMountKernelIT {
  static final int NOBODY = 65534;
  @TempDir Path tmp;

  @Test
  void nobodyMountsReadsAndUnmountsWithFusermount3() throws Exception {
    FuseTestSupport.assumeFuse();
    boolean root = "root".equals(System.getProperty("user.name"));
    boolean setpriv = Files.isExecutable(Path.of("/usr/bin/setpriv"));
    String fusermount = UserMount.unavailableReason();
    if (!root || !setpriv || fusermount != null) {
      System.err.println("\n*** SKIPPING UserMountKernelIT: needs root (to become nobody), setpriv and a setuid fusermount3"
          + (fusermount != null ? " (" + fusermount + ")" : "") + " ***\n");
    }
    Assumptions.assumeTrue(root && setpriv && fusermount == null, "needs root, setpriv and fusermount3");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    String cp = readableClassPath(tmp.resolve("cp"));
    Path mp = Files.createDirectory(tmp.resolve("mnt")).toRealPath();
    Files.setAttribute(mp, "unix:uid", NOBODY);
    Files.setAttribute(mp, "unix:gid", NOBODY);
    Path log = tmp.resolve("child.log");
    List<String> cmd = new ArrayList<>();
    boolean rootsDevice = !Files.isReadable(Path.of("/dev/fuse")) || (Integer) Files.getAttribute(Path.of("/dev/fuse"), "unix:mode") % 8 == 0;
    if (rootsDevice) {
      // /dev/fuse is root's alone here (0600), so no user may mount FUSE at all; a private mount
      // namespace gets a 0666 node of the same device, as on a usual install. Its mounts end with it.
      Path dev = Files.createDirectory(tmp.resolve("dev"));
      Path script = Files.writeString(tmp.resolve("ns.sh"), "#!/bin/sh\nset -e\nmount -t tmpfs -o mode=755 devs " + dev
          + "\nmknod -m 666 " + dev + "/fuse c 10 229\nmount --bind " + dev + "/fuse /dev/fuse\nexec \"$@\"\n");
      Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
      cmd.addAll(List.of("/usr/bin/unshare", "--mount", "--propagation", "private", script.toString()));
    }
    cmd.addAll(asNobody(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xshare:auto", "-XX:+UseSerialGC",
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Duser.home=/tmp",
        "-cp", cp, Child.class.getName(), mp.toString())));
    Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.to(log.toFile())).start();
    // Readers and mountinfo from the child's mount namespace (its own, or ours).
    List<String> enter = List.of("/usr/bin/nsenter", "--mount=/proc/" + child.pid() + "/ns/mnt");
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      String first = out.readLine();
      assertEquals("MOUNTED", first, "child: " + Files.readString(log));
      String info = mountInfo(Path.of("/proc/" + child.pid() + "/mountinfo"), mp);
      assertTrue(info.contains(" ro,nosuid,nodev") && info.contains("user_id=65534") && info.contains(" - fuse.modelcache fusermount-test "),
          info);
      MemoryTree sample = Child.tree();
      // Files of uid 0 that others may read (default_permissions applies the modes).
      for (String rel : List.of("README.md", "models/config.json", "big.bin", "zero")) {
        byte[] want = sample.nodes.get("/" + rel).bytes();
        List<String> read = new ArrayList<>(enter);
        read.addAll(asNobody(List.of("sha256sum", mp.resolve(rel).toString())));
        assertEquals(FuseTestSupport.sha256(want), run(read).split(" ")[0], rel);
      }
      child.getOutputStream().write("close\n".getBytes(StandardCharsets.UTF_8));
      child.getOutputStream().flush();
      assertEquals("UNMOUNTED", out.readLine(), "child: " + Files.readString(log));
      assertTrue(child.waitFor(30, TimeUnit.SECONDS), "child exits");
      assertEquals(0, child.exitValue(), Files.readString(log));
      assertFalse(FuseMount.isMountPoint(mp), "fusermount3 -u unmounted it");
      assertTrue(Files.readString(log).contains("with fusermount3 as uid 65534"), Files.readString(log));
    } finally {
      child.destroyForcibly();
      child.waitFor(30, TimeUnit.SECONDS);
      if (FuseMount.isMountPoint(mp)) {
        FuseMount.lazyUnmount(mp);
      }
    }
  }

  private static List<String> asNobody(List<String> cmd) {
    List<String> c = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups"));
    c.addAll(cmd);
    return c;
  }

  private static String run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd));
    assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + out);
    return out;
  }

  static String mountInfo(Path mountinfo, Path mp) throws IOException {
    for (String line : Files.readAllLines(mountinfo)) {
      if (line.split(" ")[4].equals(mp.toString())) {
        return line;
      }
    }
    return "(not in mountinfo)";
  }

  /** The test class path copied where nobody may read it (~/.m2 is root's). */
  private static String readableClassPath(Path dir) throws IOException {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> out = new ArrayList<>();
    int i = 0;
    for (String e : cp.split(java.io.File.pathSeparator)) {
      Path src = Path.of(e);
      if (!Files.exists(src)) {
        continue;
      }
      Path dst = dir.resolve(i++ + "-" + src.getFileName());
      if (Files.isDirectory(src)) {
        try (Stream<Path> s = Files.walk(src)) {
          for (Path p : s.toList()) {
            Path t = dst.resolve(src.relativize(p).toString());
            if (Files.isDirectory(p)) {
              Files.createDirectories(t);
            } else {
              Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
            }
          }
        }
      } else {
        Files.createDirectories(dir);
        Files.copy(src, dst);
      }
      out.add(dst.toString());
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.toList()) {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
      }
    }
    return String.join(java.io.File.pathSeparator, out);
  }

  /** Child main, run as nobody: mounts the sample tree on args[0] (kernel transport), MOUNTED; at a line, unmounts, UNMOUNTED. */
  static final class Child {
    static MemoryTree tree() {
      return MemoryTree.sample().file("/big.bin", MemoryTree.randomBytes(7, (3 << 20) + 17), 0444, 1_700_000_900L, 0);
    }

    public static void main(String[] args) throws Exception {
      PrintStream out = System.out;
      Mounted m = FuseTransport.kernel().mount(Path.of(args[0]), tree(),
          FuseOptions.defaults().withFsName("fusermount-test").withAllowOther(false));
      out.println("MOUNTED");
      out.flush();
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
      m.close();
      out.println(FuseMount.isMountPoint(Path.of(args[0])) ? "STILL MOUNTED" : "UNMOUNTED");
      out.flush();
      System.exit(0);
    }
  }
}
