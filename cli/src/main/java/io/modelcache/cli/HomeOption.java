package io.modelcache.cli;

import io.modelcache.daemon.DaemonConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --home}: where the daemon keeps its socket, cache and state. */
final class HomeOption {
  @Option(names = "--home", paramLabel = "DIR",
      description = "Daemon home: control socket, cache and state (default: $MODELCACHE_HOME or /var/lib/modelcache).")
  Path home;

  Path resolve() {
    if (home != null) {
      return home.toAbsolutePath();
    }
    String env = System.getenv("MODELCACHE_HOME");
    return env != null && !env.isBlank() ? Path.of(env).toAbsolutePath() : DaemonConfig.DEFAULT_HOME;
  }
}
