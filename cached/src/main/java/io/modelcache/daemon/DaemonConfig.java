package io.modelcache.daemon;

import io.modelcache.registry.RegistryOptions;
import java.nio.file.Path;
import java.time.Duration;

/** Everything the daemon is started with. Immutable. */
public record DaemonConfig(
    Path home,
    long cacheSizeBytes,
    int chunkSizeBytes,
    Duration fetchTimeout,
    int readAheadKb,
    boolean allowOther,
    RegistryOptions registryOptions) {

  public static final Path DEFAULT_HOME = Path.of("/var/lib/modelcache");

  public Path cacheDir() {
    return home.resolve("cache");
  }

  public Path stateDir() {
    return home.resolve("state");
  }
}
