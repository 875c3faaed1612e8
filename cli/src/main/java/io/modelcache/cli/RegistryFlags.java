package io.modelcache.cli;

import io.modelcache.registry.RegistryOptions;
import picocli.CommandLine.Option;

/** Registry options shared by commands that talk to a registry. */
final class RegistryFlags {
  @Option(names = "--plain-http", description = "Use plain HTTP for a non-loopback registry (loopback registries always use it).")
  boolean plainHttp;

  Boolean plainHttpOverride() {
    return plainHttp ? Boolean.TRUE : null;
  }

  RegistryOptions options() {
    return RegistryOptions.defaults().withPlainHttp(plainHttpOverride());
  }
}
