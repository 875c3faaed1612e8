package io.modelcache.daemon;

import io.modelcache.config.Settings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the mounts.d directories declare: every root-owned {@code *.yaml}/{@code *.yml} file is one
 * mount. Read again at each reconcile (ConfigMap updates arrive as file swaps). A file that cannot
 * be read, is not root's, or declares a mountpoint another file declared is left out and reported
 * once per distinct error, not every two seconds. Thread-safe: the daemon reconciles on one thread,
 * and the report map is concurrent.
 */
final class MountsDir {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
  static final Path ETC_MOUNTS_D = Path.of("/etc/modelcache/mounts.d");

  private final List<Path> dirs;
  /** Last error logged per file or directory. */
  private final Map<String, String> reported = new ConcurrentHashMap<>();

  MountsDir(List<Path> dirs) {
    this.dirs = List.copyOf(dirs);
  }

  /** The directories whose files declare mounts: the configured one, and /etc's unless one is set. */
  static List<Path> dirs(Settings settings) {
    List<Path> dirs = new ArrayList<>();
    dirs.add(settings.effectiveMountsDir());
    if (settings.mountsDir() == null && !dirs.contains(ETC_MOUNTS_D)) {
      dirs.add(ETC_MOUNTS_D);
    }
    return dirs;
  }

  /** Reports, once per distinct error, that {@code m} could not be mounted (it is retried). */
  void cannotMount(DeclaredMount m, Exception e) {
    reportOnce(m.file(), m.file() + ": cannot mount " + m.reference() + " at " + m.mountpoint() + ": " + e.getMessage());
  }

  /** The mounts the files declare now, by mountpoint (the first file to declare one wins). */
  Map<Path, DeclaredMount> declared() {
    Map<Path, DeclaredMount> desired = new LinkedHashMap<>();
    for (Path dir : dirs) {
      if (!Files.isDirectory(dir)) {
        continue;
      }
      List<Path> files;
      try (var s = Files.list(dir)) {
        files = s.filter(p -> {
          String n = p.getFileName().toString();
          return !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml")) && Files.isRegularFile(p);
        }).sorted().toList();
        files = files.stream().filter(f -> {
          String why = Access.notRootsFile(f);
          if (why != null) {
            reportOnce(f.toString(), "ignoring " + f + ": " + why + " (mounts.d files must be root's)");
          }
          return why == null;
        }).toList();
      } catch (IOException e) {
        reportOnce(dir.toString(), "cannot list " + dir + ": " + e.getMessage());
        continue;
      }
      for (Path f : files) {
        try {
          DeclaredMount m = DeclaredMount.parse(f.toString(), Files.readString(f));
          DeclaredMount other = desired.putIfAbsent(m.mountpoint(), m);
          if (other != null) {
            reportOnce(f.toString(), f + ": mountpoint " + m.mountpoint() + " is already declared by " + other.file());
          }
        } catch (IOException e) {
          reportOnce(f.toString(), e.getMessage());
        }
      }
    }
    return desired;
  }

  /** Logs {@code message} unless it is what was last logged for {@code key}. */
  void reportOnce(String key, String message) {
    if (!message.equals(reported.put(key, message))) {
      LOG.error("{}", message);
    }
  }

  /** {@code key} is fine now: its next error is logged again. */
  void resolved(String key) {
    reported.remove(key);
  }
}
