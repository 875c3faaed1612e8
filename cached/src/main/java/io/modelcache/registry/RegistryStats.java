package io.modelcache.registry;

import java.util.concurrent.atomic.AtomicLong;

/** Process-wide registry client counters that the daemon's metrics read. Thread-safe. */
public final class RegistryStats {
  private static final AtomicLong PROXY_FALLBACKS = new AtomicLong();

  private RegistryStats() {}

  /** Times a proxy failed a whole retry budget and requests went to the registry directly. */
  public static long proxyFallbacks() {
    return PROXY_FALLBACKS.get();
  }

  static void proxyFallback() {
    PROXY_FALLBACKS.incrementAndGet();
  }
}
