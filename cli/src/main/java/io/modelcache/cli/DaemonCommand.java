package io.modelcache.cli;

import io.modelcache.config.Sizes;
import io.modelcache.daemon.Daemon;
import io.modelcache.daemon.DaemonConfig;
import io.modelcache.registry.RegistryOptions;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code modelcache daemon}: runs the daemon in the foreground (what systemd runs). */
@Command(name = "daemon", description = "Run the ModelCache daemon in the foreground.")
final class DaemonCommand implements Callable<Integer> {
  @Mixin HomeOption home;

  @Option(names = "--cache-size", paramLabel = "BYTES", defaultValue = "100G",
      description = "Cache budget, with K, M, G or T suffix (default: ${DEFAULT-VALUE}).")
  String cacheSize;

  @Option(names = "--chunk-size", paramLabel = "BYTES", defaultValue = "4M",
      description = "Chunk size, a power of two from 64K to 64M (default: ${DEFAULT-VALUE}).")
  String chunkSize;

  @Option(names = "--fetch-timeout", paramLabel = "SECONDS", defaultValue = "30",
      description = "How long a read of uncached bytes may wait for the registry before failing with EIO (default: ${DEFAULT-VALUE}).")
  long fetchTimeoutSeconds;

  @Option(names = "--read-ahead-kb", defaultValue = "1024",
      description = "Kernel read-ahead of each mount, in KiB (default: ${DEFAULT-VALUE}).")
  int readAheadKb;

  @Option(names = "--no-allow-other", description = "Do not let other users read the mounts.")
  boolean noAllowOther;

  @Override
  public Integer call() throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("modelcache.log", "info"));
    DaemonConfig cfg = new DaemonConfig(home.resolve(), Sizes.parse("cache size", cacheSize),
        (int) Sizes.parse("chunk size", chunkSize), Duration.ofSeconds(fetchTimeoutSeconds), readAheadKb,
        !noAllowOther, RegistryOptions.defaults());
    Daemon d = Daemon.start(cfg);
    Runtime.getRuntime().addShutdownHook(new Thread(d::close, "shutdown"));
    System.err.println("modelcache daemon ready: home " + cfg.home() + ", cache budget "
        + Sizes.format(cfg.cacheSizeBytes()) + ", chunk " + Sizes.format(cfg.chunkSizeBytes()));
    d.awaitStop();
    return 0;
  }
}
