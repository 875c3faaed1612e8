package io.modelcache.config;

import java.nio.file.Path;
import java.util.List;

/**
 * Per-registry settings from the config file: mirrors tried first, plain HTTP, the HTTP proxy to reach
 * it through ({@code http://host:port}, applied even to a loopback registry), and a PEM file of CA
 * certificates trusted for it in addition to the system's.
 */
public record RegistrySettings(String host, List<String> mirrors, Boolean plainHttp, String proxy, Path ca) {
  public RegistrySettings {
    mirrors = mirrors == null ? List.of() : List.copyOf(mirrors);
  }

  public RegistrySettings(String host, List<String> mirrors, Boolean plainHttp) {
    this(host, mirrors, plainHttp, null, null);
  }
}
