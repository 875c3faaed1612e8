package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount that belongs to a user (uid 65534, nobody), made by this root process as the daemon makes
 * one for a caller: hers for the kernel (user_id), nosuid, nodev, read-only; without allow_other not
 * even root may enter it, with it everyone may; a directory she does not own or a link is refused.
 */
abstract class OwnedMountSuite {
  /** The transport under test ({@link OwnedMountKernelIT}, {@link OwnedMountJnrIT}). */
  abstract FuseTransport transport();

  static final int NOBODY = 65534;
  @TempDir Path tmp;
  Path mp;

  @BeforeEach
  void setUp() throws IOException {
    FuseTestSupport.assumeFuse();
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv (util-linux) is needed");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
    mp = Files.createDirectory(tmp.resolve("hers")).toRealPath();
    Files.setAttribute(mp, "unix:uid", NOBODY);
  }

  private static FuseOptions hers(boolean allowOther) {
    return FuseOptions.defaults().withFsName("modelcache-test").withOwner(NOBODY, NOBODY).withAllowOther(allowOther);
  }

  @Test
  void onlyHerProcessesEnterWithoutAllowOther() throws Exception {
    MemoryTree tree = MemoryTree.sample();
    try (Mounted m = transport().mount(mp, tree, hers(false))) {
      String info = mountInfo(mp);
      assertTrue(info.contains(" ro,nosuid,nodev") && info.contains("user_id=65534") && info.contains("group_id=65534")
          && !info.contains("allow_other"), info);
      assertEquals("modelcache-test", FuseMount.mountSource(mp));
      assertEquals("sha256:" + FuseTestSupport.sha256("hello model\n".getBytes(StandardCharsets.UTF_8)),
          "sha256:" + asNobody("sha256sum", mp.resolve("README.md").toString()).split(" ")[0]);
      IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(mp.resolve("README.md")));
      assertTrue(String.valueOf(e.getMessage()).contains("Permission denied") || e instanceof java.nio.file.AccessDeniedException,
          e.toString());
    }
    assertFalse(FuseMount.isMountPoint(mp), "unmounted");
  }

  @Test
  void everyoneReadsWithAllowOther() throws Exception {
    try (Mounted m = transport().mount(mp, MemoryTree.sample(), hers(true))) {
      assertTrue(mountInfo(mp).contains("allow_other"), mountInfo(mp));
      assertEquals("hello model\n", Files.readString(mp.resolve("README.md")));
    }
    assertFalse(FuseMount.isMountPoint(mp));
  }

  @Test
  void aDirectoryOfAnotherUserOrALinkIsRefused() throws Exception {
    Path roots = Files.createDirectory(tmp.resolve("roots")).toRealPath();
    IOException e = assertThrows(IOException.class, () -> transport().mount(roots, MemoryTree.sample(), hers(false)));
    assertEquals("cannot mount on " + roots + ": not owned by uid 65534", e.getMessage());
    Path link = Files.createSymbolicLink(tmp.resolve("link"), mp);
    e = assertThrows(IOException.class, () -> transport().mount(link, MemoryTree.sample(), hers(false)));
    assertEquals("cannot mount on " + link + ": not a directory (or a symbolic link)", e.getMessage());
    assertFalse(FuseMount.isMountPoint(roots) || FuseMount.isMountPoint(mp));
  }

  private static String mountInfo(Path p) throws IOException {
    return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
        .filter(l -> l.split(" ")[4].equals(p.toString())).reduce((a, b) -> b).orElse("");
  }

  /** Runs a command as uid/gid 65534 in a child process. */
  private static String asNobody(String... cmd) throws Exception {
    String[] full = new String[cmd.length + 4];
    full[0] = "setpriv";
    full[1] = "--reuid=" + NOBODY;
    full[2] = "--regid=" + NOBODY;
    full[3] = "--clear-groups";
    System.arraycopy(cmd, 0, full, 4, cmd.length);
    Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + String.join(" ", full));
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
