package io.modelcache.cli;

import io.modelcache.config.Durations;
import io.modelcache.config.Settings;
import io.modelcache.config.Sizes;
import io.modelcache.daemon.Daemon;
import io.modelcache.daemon.DaemonConfig;
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
    String envHome = System.getenv("MODELCACHE_HOME");
    Path baseHome = envHome != null && !envHome.isBlank() ? Path.of(envHome) : DaemonConfig.DEFAULT_HOME;
    Settings s = Settings.load(configFile != null ? configFile : Settings.DEFAULT_FILE, configFile != null,
        Settings.defaults(baseHome));
    s = s.with(b -> {
      if (home != null) {
        b.home = home.toAbsolutePath();
      }
      if (cacheSize != null) {
        b.cacheSizeBytes = Sizes.parse("cache size", cacheSize);
      }
      if (chunkSize != null) {
        b.chunkSizeBytes = Settings.chunk(chunkSize);
      }
      if (fetchTimeout != null) {
        b.fetchTimeout = Durations.parse("fetch timeout", fetchTimeout);
      }
      if (fetchConcurrency != null) {
        b.fetchConcurrency = fetchConcurrency;
      }
      if (readAheadKb != null) {
        b.readAheadKb = readAheadKb;
      }
      if (metricsAddress != null) {
        b.metricsAddress = Settings.address(metricsAddress);
      }
      if (noAllowOther) {
        b.allowOther = false;
      }
    });
    RegistryOptions ro = Artifacts.configure(RegistryOptions.defaults(), s);
    Daemon d = Daemon.start(new DaemonConfig(s, ro));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      tellServiceManager("STOPPING=1\n");
      if (unmountOnExit) {
        d.stopAndUnmount();
      } else {
        d.close();
      }
    }, "shutdown"));
    System.err.println("modelcache daemon ready: home " + s.home() + ", cache budget " + Sizes.format(s.cacheSizeBytes())
        + ", chunk " + Sizes.format(s.chunkSizeBytes())
        + (d.metricsPort() >= 0 ? ", metrics on " + s.metricsAddress().replaceAll(":\\d+$", "") + ":" + d.metricsPort() : ""));
    tellServiceManager("READY=1\nSTATUS=serving " + s.home() + "\n");
    d.awaitStop();
    return 0;
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
}
