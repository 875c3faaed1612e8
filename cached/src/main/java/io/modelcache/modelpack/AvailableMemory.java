package io.modelcache.modelpack;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The memory a pull's page cache can grow into, for {@link DirectFile#worthIt}: the kernel's
 * MemAvailable, capped by the memory cgroup the process runs in. A pull in a Kubernetes init
 * container or a systemd unit with {@code MemoryMax} has its page cache charged to that cgroup, so
 * on a node with 1 TiB free a pod limited to 16 GiB must still treat a 30 GiB model as too big to
 * keep. The cgroup's headroom is its limit less its anonymous memory (page cache there is
 * reclaimable, so it does not count against the pull), taken at the process's own cgroup and every
 * ancestor that sets a limit. cgroup v2 ({@code memory.max}, {@code anon}) and v1
 * ({@code memory.limit_in_bytes}, {@code total_rss}) are read; anything unreadable counts as no limit.
 * Stateless; safe from any thread.
 */
final class AvailableMemory {
  /** v1 reports "no limit" as a huge page-rounded number near Long.MAX_VALUE. */
  private static final long NO_LIMIT = 1L << 60;

  private AvailableMemory() {}

  /** Bytes available to this process's page cache, or 0 where MemAvailable cannot be read. */
  static long read() {
    return read(Path.of("/proc"), Path.of("/sys/fs/cgroup"));
  }

  static long read(Path proc, Path cgroupRoot) {
    long avail = memAvailable(lines(proc.resolve("meminfo")));
    if (avail <= 0) {
      return 0;
    }
    return Math.min(avail, cgroupHeadroom(lines(proc.resolve("self/cgroup")), cgroupRoot));
  }

  /** MemAvailable in bytes from /proc/meminfo's lines, or 0. */
  static long memAvailable(List<String> meminfo) {
    for (String line : meminfo) {
      if (line.startsWith("MemAvailable:")) {
        try {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (NumberFormatException e) {
          return 0;
        }
      }
    }
    return 0;
  }

  /** The smallest headroom over the process's memory cgroup and its ancestors; Long.MAX_VALUE if none. */
  static long cgroupHeadroom(List<String> selfCgroup, Path cgroupRoot) {
    long best = Long.MAX_VALUE;
    for (String line : selfCgroup) {
      String[] f = line.split(":", 3);
      if (f.length != 3) {
        continue;
      }
      if (f[0].equals("0") && f[1].isEmpty()) {
        best = Math.min(best, headroom(cgroupRoot, f[2], "memory.max", "anon"));
      } else if (List.of(f[1].split(",")).contains("memory")) {
        best = Math.min(best, headroom(cgroupRoot.resolve("memory"), f[2], "memory.limit_in_bytes", "total_rss"));
      }
    }
    return best;
  }

  private static long headroom(Path mount, String cgroupPath, String limitFile, String anonKey) {
    long best = Long.MAX_VALUE;
    Path dir = mount.resolve(cgroupPath.replaceFirst("^/+", "")).normalize();
    for (; dir != null && dir.startsWith(mount); dir = dir.getParent()) {
      long limit = limit(lines(dir.resolve(limitFile)));
      if (limit < NO_LIMIT) {
        // At or over its limit: 1 byte, not 0 (which would read as "unknown"): nothing fits.
        best = Math.min(best, Math.max(1, limit - stat(lines(dir.resolve("memory.stat")), anonKey)));
      }
    }
    return best;
  }

  /** A limit file's value; Long.MAX_VALUE for "max", a missing file or garbage. */
  static long limit(List<String> lines) {
    if (lines.isEmpty()) {
      return Long.MAX_VALUE;
    }
    try {
      return Long.parseLong(lines.get(0).strip());
    } catch (NumberFormatException e) {
      return Long.MAX_VALUE; // "max"
    }
  }

  /** One key of a memory.stat file; 0 where it is missing. */
  static long stat(List<String> lines, String key) {
    for (String line : lines) {
      if (line.startsWith(key + " ")) {
        try {
          return Long.parseLong(line.substring(key.length() + 1).strip());
        } catch (NumberFormatException e) {
          return 0;
        }
      }
    }
    return 0;
  }

  private static List<String> lines(Path p) {
    try {
      return Files.readAllLines(p);
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }
}
