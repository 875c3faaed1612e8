package io.modelcache.access;

import java.util.Set;

/**
 * The process on the other end of a control connection: pid, uid and gid from SO_PEERCRED, and its
 * supplementary groups (from /proc/PID/status; empty when they could not be read).
 */
public record Caller(long pid, int uid, int gid, Set<Integer> groups) {
  public Caller {
    groups = Set.copyOf(groups);
  }

  /** The daemon's own in-process calls (restore, mounts.d) and root clients. */
  public static Caller root(long pid) {
    return new Caller(pid, 0, 0, Set.of());
  }

  public boolean isRoot() {
    return uid == 0;
  }

  public boolean inGroup(int gid) {
    return gid >= 0 && (this.gid == gid || groups.contains(gid));
  }

  /** How the logs name the caller. */
  public String describe() {
    return "uid " + Integer.toUnsignedString(uid) + " pid " + pid;
  }
}
