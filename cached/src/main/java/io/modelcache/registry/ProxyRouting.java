package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * Which proxy a client's requests go through: the registry's explicit one (even for loopback), else
 * the proxy environment's; none while bypassed after the proxy failed a whole retry budget. Time comes
 * from the injected clock. Thread-safe.
 */
final class ProxyRouting {
  /** How long requests go direct after the proxy failed a whole retry budget. */
  static final Duration BYPASS = Duration.ofSeconds(60);

  private final String registry;
  private final Network.Route route;
  private final ProxyEnv env;
  private final Clock clock;
  private volatile Instant bypassUntil = Instant.MIN;

  ProxyRouting(String registry, Network.Route route, ProxyEnv env, Clock clock) {
    this.registry = registry;
    this.route = route;
    this.env = env;
    this.clock = clock;
  }

  /** The proxy for a request to {@code host:port}, or null to connect directly. */
  URI proxyFor(String host, int port, boolean https) throws IOException {
    if (clock.instant().isBefore(bypassUntil)) {
      return null;
    }
    return configured(host, port, https);
  }

  private URI configured(String host, int port, boolean https) throws IOException {
    return route.proxy() != null ? route.proxy() : env.proxyFor(host, port, https);
  }

  /**
   * A switch to going direct: the proxy that used up a retry budget and why. {@code announce} is true
   * for the one caller that made the switch; it says so once its direct budget has an outcome, so that a
   * command whose registry is unreachable both ways prints one line, not a warning and then an error.
   */
  record Fallback(String registry, String proxy, String cause, boolean announce) {
    /** The daemon log's line for a switch that worked. */
    String warning() {
      return registry + ": proxy " + proxy + " failed (" + cause + "); going to the registry directly for "
          + BYPASS.toSeconds() + " s";
    }

    /** {@code direct}'s error when going direct failed too, naming the proxy that failed first. */
    ModelCacheException failedToo(ModelCacheException direct) {
      return new ModelCacheException(direct.kind(),
          direct.getMessage() + ", and proxy " + proxy + " failed first (" + cause + ")", direct.getCause());
    }
  }

  /**
   * Called when a whole retry budget failed: a {@link Fallback} when requests to {@code target} go
   * through a proxy, which is then bypassed for {@link #BYPASS} (counted once per switch) so that the
   * caller retries directly; null when they went direct already.
   */
  Fallback fallBackToDirect(URI target, String cause) throws IOException {
    URI proxy = configured(target.getHost(), RedirectPolicy.port(target), "https".equalsIgnoreCase(target.getScheme()));
    if (proxy == null) {
      return null;
    }
    String p = proxy.getHost() + ":" + proxy.getPort();
    String why = cause.startsWith("proxy " + p + ": ") ? cause.substring(p.length() + 8) : cause;
    synchronized (this) {
      Instant now = clock.instant();
      boolean switched = !now.isBefore(bypassUntil);
      if (switched) {
        bypassUntil = now.plus(BYPASS);
        RegistryStats.proxyFallback();
      }
      return new Fallback(registry, p, why, switched);
    }
  }
}
