package io.modelcache.cli;

import io.modelcache.config.Durations;
import io.modelcache.config.Settings;
import io.modelcache.config.Sizes;
import io.modelcache.daemon.Daemon;
import io.modelcache.daemon.DaemonConfig;
import io.modelcache.error.ModelCacheException;
import io.modelcache.handover.SdNotify;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.source.Artifacts;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code modelcache daemon}: runs the daemon in the foreground (what systemd runs). Settings come from
 * defaults, then the config file, then these flags.
 */
@Command(name = "daemon", description = "Run the ModelCache daemon in the foreground.")
final class DaemonCommand implements Callable<Integer> {
  @Option(names = "--config", paramLabel = "FILE",
      description = "Config file (default: /etc/modelcache/config.yaml if it exists).")
  Path configFile;

  @Option(names = "--home", paramLabel = "DIR",
      description = "Control socket, cache and state (default: $MODELCACHE_HOME, the config's home, or /var/lib/modelcache).")
  Path home;

  @Option(names = "--cache-size", paramLabel = "BYTES", description = "Cache budget, with K, M, G or T suffix (default 100G).")
  String cacheSize;

  @Option(names = "--chunk-size", paramLabel = "BYTES", description = "Chunk size, a power of two from 64K to 64M (default 4M).")
  String chunkSize;

  @Option(names = "--fetch-timeout", paramLabel = "DURATION",
      description = "How long a read of uncached bytes may wait without progress before failing with EIO (default 30s).")
  String fetchTimeout;

  @Option(names = "--fetch-concurrency", paramLabel = "N", description = "Range fetches in flight at once (default 8).")
  Integer fetchConcurrency;

  @Option(names = "--read-ahead-kb", paramLabel = "KIB", description = "Kernel read-ahead of each mount (default 1024).")
  Integer readAheadKb;

  @Option(names = "--metrics-address", paramLabel = "HOST:PORT",
      description = "Prometheus endpoint, or 'off' (default 127.0.0.1:9464).")
  String metricsAddress;

  @Option(names = "--no-allow-other", description = "Do not let other users read the mounts.")
  boolean noAllowOther;

  @Option(names = "--unmount-on-exit",
      description = "On SIGTERM unmount every mount, also those restart.keepMounts would leave mounted for the next daemon.")
  boolean unmountOnExit;

  @Override
  public Integer call() throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("modelcache.log", "info"));
    // What 'status' reports: the version 'modelcache --version' prints (the jar's manifest has none).
    java.util.Properties build = Main.BuildInfo.load();
    String commit = build.getProperty("git.commit.id.abbrev");
    System.setProperty("modelcache.version", build.getProperty("git.build.version", "unknown")
        + (commit == null ? "" : " (commit " + commit + ")"));
    String envHome = System.getenv("MODELCACHE_HOME");
    Path baseHome = envHome != null && !envHome.isBlank() ? Path.of(envHome) : DaemonConfig.DEFAULT_HOME;
    Settings s = Settings.load(configFile != null ? configFile : Settings.DEFAULT_FILE, configFile != null,
        Settings.defaults(baseHome));
    s = s.with(b -> {
      if (home != null) {
        b.home = home.toAbsolutePath();
      }
      if (cacheSize != null) {
        b.cacheSizeBytes = Settings.budget(Sizes.parse("cache size", cacheSize));
      }
      if (chunkSize != null) {
        b.chunkSizeBytes = Settings.chunk(chunkSize);
      }
      if (fetchTimeout != null) {
        b.fetchTimeout = Durations.parsePositive("--fetch-timeout", fetchTimeout);
      }
      if (fetchConcurrency != null) {
        b.fetchConcurrency = positive("--fetch-concurrency", fetchConcurrency);
      }
      if (readAheadKb != null) {
        b.readAheadKb = positive("--read-ahead-kb", readAheadKb);
        if (readAheadKb > io.modelcache.config.Settings.MAX_READ_AHEAD_KB) {
          throw new ModelCacheException(ModelCacheException.Kind.USAGE, "--read-ahead-kb: must be at most "
              + io.modelcache.config.Settings.MAX_READ_AHEAD_KB + " (1 GiB), got " + readAheadKb);
        }
      }
      if (metricsAddress != null) {
        b.metricsAddress = Settings.address(metricsAddress);
      }
      if (noAllowOther) {
        b.allowOther = false;
      }
    });
    RegistryOptions ro = Artifacts.configure(RegistryOptions.defaults(), s);
    // fetch.timeout is how long the daemon waits for a registry that stopped answering; a shorter
    // one (a node that must fail over quickly) also bounds each attempt's wait for the first byte.
    ro = ro.withTimeouts(ro.connectTimeout(), min(ro.firstByteTimeout(), s.fetchTimeout()), ro.idleTimeout());
    Daemon d = Daemon.start(new DaemonConfig(s, ro));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      tellServiceManager("STOPPING=1\n");
      long reads = fuseReads(d);
      if (unmountOnExit) {
        d.stopAndUnmount();
      } else {
        d.close();
      }
      keepAotTraining(reads);
    }, "shutdown"));
    System.err.println("modelcache daemon ready: home " + s.home() + ", cache budget " + Sizes.format(s.cacheSizeBytes())
        + ", chunk " + Sizes.format(s.chunkSizeBytes())
        + (d.metricsPort() >= 0 ? ", metrics on " + s.metricsAddress().replaceAll(":\\d+$", "") + ":" + d.metricsPort() : ""));
    tellServiceManager("READY=1\nSTATUS=serving " + s.home() + "\n");
    d.awaitStop();
    return 0;
  }

  /** FUSE reads this daemon has answered (its modelcache_fuse_operation_seconds{op="read"} count). */
  static long fuseReads(Daemon d) {
    if (System.getProperty("modelcache.aot.trainingStamp", "").isEmpty()) {
      return 0; // only a training run asks (keepAotTraining)
    }
    try {
      io.micrometer.core.instrument.Timer t = d.metrics().registry().find("modelcache.fuse.operation")
          .tag("op", "read").timer();
      return t == null ? 0 : t.count();
    } catch (RuntimeException e) {
      return 0; // never in the way of the stop
    }
  }

  /**
   * The launcher's training run of the daemon's AOT cache (MODELCACHE_DAEMON_AOT; the launcher names
   * the cache's stamp in {@code modelcache.aot.trainingStamp}). The JVM writes the cache at exit
   * whatever this daemon did, but one trained on a start alone made cold reads cost more CPU than no
   * cache (docs/performance.md): unless this daemon answered at least {@code modelcache.aot.minReads}
   * FUSE reads (default 256), the stamp goes, so the next start trains again.
   */
  static void keepAotTraining(long reads) {
    String stamp = System.getProperty("modelcache.aot.trainingStamp", "");
    long min = Long.getLong("modelcache.aot.minReads", 256);
    if (stamp.isEmpty() || reads >= min) {
      return;
    }
    try {
      java.nio.file.Files.deleteIfExists(Path.of(stamp));
      System.err.println("modelcache: this daemon answered " + reads + " FUSE reads, fewer than the " + min
          + " that train the daemon's AOT cache; the next start trains it again");
    } catch (java.io.IOException | RuntimeException e) {
      System.err.println("modelcache: cannot remove " + stamp + ": " + e.getMessage());
    }
  }

  /** sd_notify under systemd (NOTIFY_SOCKET set); a failure is logged, never fatal. */
  private static void tellServiceManager(String state) {
    SdNotify.fromEnvironment(System.getenv()).ifPresent(n -> {
      try {
        n.notify(state);
      } catch (java.io.IOException | RuntimeException e) {
        System.err.println("modelcache: cannot notify the service manager at " + n.socket() + ": " + e.getMessage());
      }
    });
  }

  private static java.time.Duration min(java.time.Duration a, java.time.Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /** The value of a count option, which must be at least 1 (as the config file's keys must). */
  private static int positive(String option, int v) throws ModelCacheException {
    if (v < 1) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, option + ": must be at least 1, got " + v);
    }
    return v;
  }
}
