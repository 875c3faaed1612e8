package io.modelcache.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * CPU seconds of a process split by thread, from {@code /proc/PID/task/TID/stat}: the threads JFR's
 * sampler does not see (JIT compilers, GC, the VM thread) get their own rows instead of one
 * remainder. Threads are grouped by name with a trailing number dropped ({@code C2 CompilerThre0} and
 * {@code ...1} are one row). A thread that ended inside the window is not in the last snapshot; its
 * CPU is the process's total minus the rows. Stateless; snapshots are values.
 */
final class ThreadCpu {
  private ThreadCpu() {}

  /** One thread's name (as the kernel keeps it, 15 characters) and CPU seconds so far. */
  record Sample(String name, double seconds) {}

  /** Every live thread of {@code pid}, by thread id; threads that vanish while it is read are skipped. */
  static Map<Long, Sample> snapshot(long pid) throws IOException {
    Map<Long, Sample> out = new HashMap<>();
    try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
      for (Path t : (Iterable<Path>) tasks::iterator) {
        try {
          String s = Files.readString(t.resolve("stat"));
          int open = s.indexOf('(');
          int close = s.lastIndexOf(')');
          String[] f = s.substring(close + 2).split(" ");
          double cpu = (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
          out.put(Long.parseLong(t.getFileName().toString()), new Sample(s.substring(open + 1, close), cpu));
        } catch (IOException | RuntimeException gone) {
          // The thread ended between the listing and the read: its CPU shows in the remainder.
        }
      }
    }
    return out;
  }

  /** CPU seconds spent between two snapshots per thread group, largest first, plus the remainder. */
  static Map<String, Double> between(Map<Long, Sample> before, Map<Long, Sample> after, double processSeconds) {
    Map<String, Double> groups = new TreeMap<>();
    double sum = 0;
    for (var e : after.entrySet()) {
      Sample b = before.get(e.getKey());
      double d = e.getValue().seconds() - (b == null ? 0 : b.seconds());
      if (d > 0) {
        groups.merge(group(e.getValue().name()), d, Double::sum);
        sum += d;
      }
    }
    Map<String, Double> out = new LinkedHashMap<>();
    groups.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
        .forEach(e -> out.put(e.getKey(), e.getValue()));
    out.put("(threads that ended in the window)", Math.max(0, processSeconds - sum));
    return out;
  }

  static String group(String name) {
    return name.replaceAll("[0-9]+$", "N");
  }

  /** The groups with at least 10 ms, on one line ({@code name 0.12, ...}). */
  static String line(Map<String, Double> groups) {
    StringBuilder sb = new StringBuilder();
    groups.forEach((k, v) -> {
      if (v >= 0.01) {
        sb.append(sb.isEmpty() ? "" : ", ").append(k).append(String.format(Locale.ROOT, " %.2f", v));
      }
    });
    return sb.isEmpty() ? "none over 10 ms" : sb.toString();
  }

  /** A markdown table of {@link #between} as CPU-s per GiB of {@code bytes}. */
  static String table(String title, Map<String, Double> groups, long bytes) {
    double gib = bytes / (double) (1L << 30);
    StringBuilder sb = new StringBuilder("\n### Threads: " + title + "\n\n| thread group | CPU-s/GiB |\n|---|---:|\n");
    groups.forEach((k, v) -> {
      if (v / gib >= 0.005) {
        sb.append(String.format(Locale.ROOT, "| %s | %.3f |%n", k.replace("|", "/"), v / gib));
      }
    });
    return sb.toString();
  }
}
