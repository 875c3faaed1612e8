package io.modelcache.config;

import java.util.List;

/** Per-registry settings from the config file: mirrors tried first, and plain HTTP. */
public record RegistrySettings(String host, List<String> mirrors, Boolean plainHttp) {
  public RegistrySettings {
    mirrors = mirrors == null ? List.of() : List.copyOf(mirrors);
  }
}
