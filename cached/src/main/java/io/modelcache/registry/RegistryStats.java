package io.modelcache.registry;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Process-wide registry client counters that the daemon's metrics read. Thread-safe. */
public final class RegistryStats {
  private static final AtomicLong PROXY_FALLBACKS = new AtomicLong();
  private static final Map<String, LongAdder> RETRIES = new ConcurrentHashMap<>();

  static {
    for (String r : Transient.REASONS) {
      RETRIES.put(r, new LongAdder());
    }
  }

  private RegistryStats() {}

  /** Times a proxy failed a whole retry budget and requests went to the registry directly. */
  public static long proxyFallbacks() {
    return PROXY_FALLBACKS.get();
  }

  static void proxyFallback() {
    PROXY_FALLBACKS.incrementAndGet();
  }

  /**
   * Counts one retry of a registry request for {@code reason} (one of {@link Transient#REASONS}):
   * by the client itself, or by a caller resuming a blob stream or fetching a small blob again.
   */
  public static void retried(String reason) {
    LongAdder a = RETRIES.get(reason);
    if (a != null) {
      a.increment();
    }
  }

  /** Retries so far, by reason, every reason listed. */
  public static Map<String, Long> retries() {
    Map<String, Long> out = new LinkedHashMap<>();
    for (String r : Transient.REASONS) {
      out.put(r, RETRIES.get(r).sum());
    }
    return out;
  }

  public static long retries(String reason) {
    LongAdder a = RETRIES.get(reason);
    return a == null ? 0 : a.sum();
  }
}
