package io.modelcache.cli;

import io.modelcache.config.RegistrySettings;
import io.modelcache.config.Settings;
import io.modelcache.daemon.DaemonConfig;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.source.Artifacts;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Registry options shared by every command that talks to a registry: the daemon's config file (for
 * each registry's mirrors, plain HTTP, proxy and CA, and the credentials file) and {@code --plain-http}.
 * A command that talks to a registry mixes this in, so it reaches registries as the daemon does.
 */
final class RegistryFlags {
  @Option(names = "--plain-http", description = "Use plain HTTP for a non-loopback registry (loopback registries always use it).")
  boolean plainHttp;

  @Option(names = "--config", paramLabel = "FILE",
      description = "Config file whose registries (proxy, CA, mirrors) and credentials apply (default: /etc/modelcache/config.yaml if it exists).")
  Path configFile;

  private Settings settings;

  Boolean plainHttpOverride() {
    return plainHttp ? Boolean.TRUE : null;
  }

  /** The config file's settings (defaults when the default file does not exist). */
  Settings settings() throws ModelCacheException {
    if (settings == null) {
      settings = Settings.load(configFile != null ? configFile : Settings.DEFAULT_FILE, configFile != null,
          Settings.defaults(DaemonConfig.DEFAULT_HOME));
    }
    return settings;
  }

  RegistryOptions options() throws ModelCacheException {
    return Artifacts.configure(RegistryOptions.defaults(), settings()).withPlainHttp(plainHttpOverride());
  }

  /** The model store {@code ref} names, through the config's mirrors for its registry. */
  ArtifactSource openSource(Reference ref) throws IOException {
    return Artifacts.openSource(ref, options(), settings().registries());
  }

  /** Where {@code ref} is pushed to, with the config's plain-HTTP choice for its registry. */
  ArtifactSink openSink(Reference ref) throws IOException {
    RegistryOptions o = options();
    if (o.plainHttp() == null && !ref.isLayout()) {
      for (RegistrySettings r : settings().registries()) {
        if (r.host().equalsIgnoreCase(ref.registry()) && r.plainHttp() != null) {
          o = o.withPlainHttp(r.plainHttp());
        }
      }
    }
    return Artifacts.openSink(ref, o);
  }
}
