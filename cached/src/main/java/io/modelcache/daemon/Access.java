package io.modelcache.daemon;

import io.modelcache.access.AccessPolicy;
import io.modelcache.access.Decision;
import io.modelcache.access.Mountpoint;
import io.modelcache.access.Rules;
import io.modelcache.config.Settings;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.os.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's side of access control, the I/O around the pure {@link AccessPolicy}: the groups'
 * ids at start, what is at a mountpoint (never following a link there), whether a mounts.d file is
 * root's. Stateless; thread-safe.
 */
final class Access {
  private static final Logger LOG = LoggerFactory.getLogger(Access.class);

  private Access() {}

  /** The policy for the configured groups; a group that does not exist stops the daemon. */
  static AccessPolicy policy(DaemonConfig config) throws IOException {
    Settings s = config.settings();
    int gid = groupId("control.group", s.controlGroup());
    int admin = groupId("control.adminGroup", s.controlAdminGroup());
    if (s.controlGroup() != null) {
      warnIfUnreachable(config.home(), s.controlGroup(), gid);
    }
    return new AccessPolicy(new Rules(s.controlGroup(), gid, s.controlAdminGroup(), admin, s.allowOther()), ownUid());
  }

  /** The uid this process runs as (the owner of /proc/self), or 0 when it cannot be told. */
  static int ownUid() {
    try {
      return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    } catch (IOException | RuntimeException e) {
      LOG.debug("cannot tell this process's uid: {}", e.toString());
      return 0;
    }
  }

  private static int groupId(String key, String name) throws IOException {
    if (name == null) {
      return -1;
    }
    int gid;
    try {
      gid = Libc.groupId(name);
    } catch (IOException | RuntimeException | LinkageError e) {
      throw new ModelCacheException(Kind.IO, key + " " + name + ": cannot look the group up: " + e.getMessage());
    }
    if (gid < 0) {
      throw new ModelCacheException(Kind.USAGE, key + " " + name + ": no such group (create it with 'groupadd --system "
          + name + "')");
    }
    return gid;
  }

  /** The group can reach the socket only if it may search the home; say so once at start if not. */
  private static void warnIfUnreachable(Path home, String group, int gid) {
    try {
      Map<String, Object> a = Files.readAttributes(home, "unix:mode,gid");
      int mode = (Integer) a.get("mode");
      boolean groupMay = (Integer) a.get("gid") == gid && (mode & 0010) != 0;
      if (!groupMay && (mode & 0001) == 0) {
        LOG.warn("control.group {} cannot reach the socket: {} is not searchable by the group (chmod o+x {}, or chgrp {} "
            + "and chmod g+x)", group, home, home, group);
      }
    } catch (IOException | RuntimeException e) {
      LOG.debug("cannot check {}: {}", home, e.toString());
    }
  }

  /** Throws the refusal as a one-line DENIED error. */
  static void check(Decision d) throws ModelCacheException {
    if (!d.allowed()) {
      throw new ModelCacheException(Kind.DENIED, d.refusal());
    }
  }

  /** What is at {@code mp}, the last component not followed. */
  static Mountpoint inspect(Path mp) throws ModelCacheException {
    String path = mp.toString();
    try {
      if (!Files.exists(mp, LinkOption.NOFOLLOW_LINKS)) {
        return Mountpoint.missing(path);
      }
      Map<String, Object> a = Files.readAttributes(mp, "unix:mode,uid,isSymbolicLink,isDirectory",
          LinkOption.NOFOLLOW_LINKS);
      boolean link = (Boolean) a.get("isSymbolicLink");
      boolean dir = (Boolean) a.get("isDirectory");
      boolean empty = false;
      if (dir && !link) {
        try (Stream<Path> s = Files.list(mp)) {
          empty = s.findAny().isEmpty();
        }
      }
      return new Mountpoint(path, true, link, dir, (Integer) a.get("uid"), ((Integer) a.get("mode") & 0200) != 0, empty);
    } catch (IOException e) {
      throw new ModelCacheException(Kind.USAGE, "mountpoint " + path + " cannot be read: " + e.getMessage());
    }
  }

  /** A user's mount restored after a restart: her directory must still be hers and not a link. */
  static void checkStillOwned(Path mp, int uid) throws ModelCacheException {
    Mountpoint m = inspect(mp);
    if (m.exists() && (m.symlink() || m.ownerUid() != uid)) {
      throw new ModelCacheException(Kind.DENIED, "mountpoint " + mp + " is no longer a directory owned by uid "
          + Integer.toUnsignedString(uid));
    }
  }

  /** Why {@code f} is not root's (the file, or what its link points to), or null when it is. */
  static String notRootsFile(Path f) {
    try {
      int own = (Integer) Files.getAttribute(f, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      int target = (Integer) Files.getAttribute(f, "unix:uid");
      if (own != 0 || target != 0) {
        return "owned by uid " + Integer.toUnsignedString(own != 0 ? own : target) + ", not root";
      }
      return null;
    } catch (IOException | RuntimeException e) {
      return "cannot check its owner: " + e.getMessage();
    }
  }
}
