package io.modelcache.daemon;

import io.modelcache.config.Settings;
import io.modelcache.registry.RegistryOptions;
import java.nio.file.Path;

/** What the daemon is started with: its settings and the registry client options. Immutable. */
public record DaemonConfig(Settings settings, RegistryOptions registryOptions) {

  public static final Path DEFAULT_HOME = Path.of("/var/lib/modelcache");

  public Path home() {
    return settings.home();
  }

  public Path cacheDir() {
    return home().resolve("cache");
  }

  public Path stateDir() {
    return home().resolve("state");
  }
}
