package io.modelcache.daemon;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fuse.FuseMount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whether a directory can take a mount: one line naming it and what is wrong when it cannot. */
final class Mountpoint {
  private Mountpoint() {}

  /**
   * Fails with a usage error (exit 2) when {@code mp} is busy (a mount is there, a stale FUSE mount
   * included), missing, not a directory, not empty or unreadable.
   */
  static void checkFree(Path mp) throws ModelCacheException {
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
