package io.modelcache.daemon;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fuse.FuseMount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whether a directory can take a mount: one line naming it and what is wrong when it cannot. */
final class Mountpoint {
  /** What the daemon keeps in its home, which no mount may cover. */
  private static final java.util.Set<String> OWN_ENTRIES = java.util.Set.of("cache", "state", "profiles", "mounts.d");

  private Mountpoint() {}

  /**
   * {@code dir} as the kernel names a mount made there: links resolved (a mount through a symlink
   * is listed by its target, so it is recorded, listed and unmounted by it); as given when it cannot
   * be resolved (missing, or a stale mount whose stat fails).
   */
  static Path real(Path dir) {
    Path p = dir.toAbsolutePath().normalize();
    try {
      return p.toRealPath();
    } catch (IOException | SecurityException e) {
      return p;
    }
  }

  /**
   * The key of the mount {@code dir} names among {@code mounted}: the path as given when a mount is
   * recorded there (no stat of it, which would reach the mount itself), else its real path.
   */
  static Path lookup(java.util.Set<Path> mounted, Path dir) {
    Path given = dir.toAbsolutePath().normalize();
    return mounted.contains(given) ? given : real(given);
  }

  /**
   * Fails with a usage error (exit 2) when {@code mp} is busy (a mount is there, a stale FUSE mount
   * included), missing, not a directory, not empty or unreadable, and as an unsafe path (exit 7) when
   * it would cover the daemon's own files: its {@code home}, or its cache, state, profiles or
   * mounts.d there. Elsewhere under the home is fine ({@code <home>/mounts/...}, as the Kubernetes
   * manifests use).
   */
  static void checkFree(Path mp, Path home) throws ModelCacheException {
    for (Path h : java.util.stream.Stream.of(real(home), home.toAbsolutePath().normalize()).distinct().toList()) {
      if (mp.equals(h) || (mp.startsWith(h) && OWN_ENTRIES.contains(h.relativize(mp).getName(0).toString()))) {
        throw ModelCacheException.unsafePath("mountpoint " + mp + " would cover the daemon's own files in "
            + h + " (cache, state, profiles, mounts.d); mount elsewhere, for example under " + h.resolve("mounts"));
      }
    }
    // A mount is there: judged from mountinfo first, since a stat of a stale FUSE mount fails
    // (ENOTCONN) and would read as "does not exist".
    String busy = FuseMount.mountedType(mp);
    if (busy != null) {
      throw new ModelCacheException(Kind.USAGE, FuseMount.isStaleMount(mp)
          ? "mountpoint " + mp + " is busy: a FUSE mount whose server is gone (" + FuseMount.mountSource(mp)
              + ") is still there; detach it with 'umount -l " + mp + "'"
          : "mountpoint " + mp + " is busy: a " + busy + " filesystem is already mounted there");
    }
    if (!Files.exists(mp)) {
      throw new ModelCacheException(Kind.USAGE, "mountpoint " + mp + " does not exist");
    }
    if (!Files.isDirectory(mp)) {
      throw new ModelCacheException(Kind.USAGE, "mountpoint " + mp + " is not a directory");
    }
    try (var s = Files.list(mp)) {
      if (s.findAny().isPresent()) {
        throw new ModelCacheException(Kind.USAGE, "mountpoint " + mp + " is not empty");
      }
    } catch (ModelCacheException e) {
      throw e;
    } catch (IOException e) {
      throw new ModelCacheException(Kind.USAGE, "mountpoint " + mp + " cannot be read: " + e.getMessage());
    }
  }
}
