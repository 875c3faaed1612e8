package io.modelcache.access;

import java.util.HashSet;
import java.util.Set;

/**
 * The supplementary groups in a {@code /proc/PID/status} text. The daemon reads that file after
 * SO_PEERCRED named the pid; the real uid there must be the one SO_PEERCRED gave, or the pid was
 * reused by another process, whose groups would not be the caller's.
 */
public final class ProcStatus {
  private ProcStatus() {}

  /** The Groups: line's ids, or none when the Uid: line is missing or names another real uid. */
  public static Set<Integer> groups(String status, int uid) {
    Integer realUid = null;
    Set<Integer> groups = null;
    for (String line : status.split("\n")) {
      if (line.startsWith("Uid:")) {
        String[] f = line.substring(4).trim().split("\\s+");
        realUid = f.length > 0 ? parse(f[0]) : null;
      } else if (line.startsWith("Groups:")) {
        groups = new HashSet<>();
        for (String g : line.substring(7).trim().split("\\s+")) {
          Integer id = parse(g);
          if (id != null) {
            groups.add(id);
          }
        }
      }
    }
    if (realUid == null || realUid != uid || groups == null) {
      return Set.of();
    }
    return Set.copyOf(groups);
  }

  private static Integer parse(String s) {
    try {
      return s.isEmpty() ? null : (int) Long.parseLong(s);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
