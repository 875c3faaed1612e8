package io.modelcache.fuse;

import io.modelcache.fuse.kernel.sys.Fusermount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The kernel transport's mount for a process that is not root: fusermount3 (setuid root, from
 * fuse3) mounts /dev/fuse on a directory the caller may write and passes the descriptor back
 * ({@link Fusermount}); the mount has the caller's user_id/group_id, nosuid and nodev, and
 * allow_other only when asked (fusermount3 allows that only with {@code user_allow_other} in
 * /etc/fuse.conf). Unmounting is {@code fusermount3 -u} (see {@link FuseMount#unmount}).
 *
 * <p>Threading: stateless; safe from any thread.
 */
final class UserMount {
  private static final int TIMEOUT_MILLIS = (int) FuseMount.MOUNT_TIMEOUT.toMillis();

  private UserMount() {}

  /** fusermount3 on PATH (or in /usr/bin, /bin), or null. */
  static Path program() {
    List<String> dirs = new ArrayList<>(List.of(String.valueOf(System.getenv("PATH")).split(":")));
    dirs.addAll(List.of("/usr/bin", "/bin"));
    for (String d : dirs) {
      if (d.isEmpty()) {
        continue;
      }
      Path p = Path.of(d, "fusermount3");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /** Why fusermount3 cannot mount for this process, or null when it can. */
  static String unavailableReason() {
    Path p = program();
    if (p == null) {
      return "not root and fusermount3 is not installed (install fuse3)";
    }
    try {
      Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid");
      if ((Integer) a.get("uid") != 0 || ((Integer) a.get("mode") & 04000) == 0) {
        return "not root and " + p + " is not setuid root";
      }
    } catch (IOException | RuntimeException e) {
      return "not root and " + p + " cannot be inspected: " + e.getMessage();
    }
    return null;
  }

  /** The -o of fusermount3: what the kernel gets (it adds rootmode, user_id, group_id, nosuid, nodev). */
  static String options(FuseOptions o) {
    StringBuilder b = new StringBuilder("ro,default_permissions");
    if (o.allowOther()) {
      b.append(",allow_other");
    }
    b.append(",fsname=").append(o.fsName());
    b.append(",subtype=").append(o.subtype());
    return b.toString();
  }

  /** Mounts /dev/fuse on {@code mp} (checked: an empty directory) through fusermount3; the descriptor. */
  static int mount(Path mp, FuseOptions o) throws IOException {
    Path program = program();
    if (program == null) {
      throw new FuseUnavailableException(unavailableReason());
    }
    List<String> env = new ArrayList<>();
    env.add("_FUSE_COMMFD=" + Fusermount.COMM_FD);
    env.add("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    Fusermount.Result r = Fusermount.run(program.toString(), List.of("-o", options(o), "--", mp.toString()), env,
        TIMEOUT_MILLIS);
    if (r.fd() >= 0) {
      return r.fd();
    }
    String why = r.stderr().isEmpty() ? "exit " + r.exitCode() : r.stderr().lines()
        .map(l -> l.replaceFirst("^" + java.util.regex.Pattern.quote(program.toString()) + ": ", "")
            .replaceFirst("^fusermount3: ", ""))
        .reduce((x, y) -> x + "; " + y).orElse("");
    if (o.allowOther() && why.contains("user_allow_other")) {
      why += " (add user_allow_other to /etc/fuse.conf, or set mounts.allowOther: false or start the daemon with"
          + " --no-allow-other so that only uid " + Integer.toUnsignedString(io.modelcache.fuse.kernel.sys.Sys.geteuid())
          + " may read its mounts)";
    }
    // A node's FUSE setup, not a fault of this process: one line (exit 11), not an internal error.
    throw new FuseUnavailableException("fusermount3 refused a FUSE mount on " + mp + ": " + why);
  }

  /**
   * {@code fusermount3 -u}, then {@code -u -z} when busy; true when only detached. Throws when the
   * mount is still there afterwards.
   */
  static boolean unmount(Path mp) throws IOException {
    Path program = program();
    String p = program == null ? "fusermount3" : program.toString();
    FuseMount.runCommand(List.of(p, "-u", "--", mp.toString()));
    if (!FuseMount.isMountPoint(mp)) {
      return false;
    }
    String lazy = FuseMount.runCommand(List.of(p, "-u", "-z", "--", mp.toString()));
    if (FuseMount.isMountPoint(mp)) {
      throw new IOException("could not unmount " + mp + " with fusermount3: " + lazy);
    }
    return true;
  }

  /** Whether this process is not root (the mounts it makes go through fusermount3). */
  static boolean notRoot() {
    return io.modelcache.fuse.kernel.sys.Sys.geteuid() != 0;
  }
}
