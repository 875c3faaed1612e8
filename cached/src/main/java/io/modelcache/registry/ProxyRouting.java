package io.modelcache.registry;

import java.io.IOException;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which proxy a client's requests go through: the registry's explicit one (even for loopback), else
 * the proxy environment's; none while bypassed after the proxy failed a whole retry budget. Time comes
 * from the injected clock. Thread-safe.
 */
final class ProxyRouting {
  private static final Logger LOG = LoggerFactory.getLogger(ProxyRouting.class);
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
   * Called when a whole retry budget failed: true when requests to {@code target} go through a proxy,
   * which is then bypassed for {@link #BYPASS} (counted and logged once per switch) so that the caller
   * retries directly.
   */
  boolean fallBackToDirect(URI target, String cause) throws IOException {
    URI proxy = configured(target.getHost(), RedirectPolicy.port(target), "https".equalsIgnoreCase(target.getScheme()));
    if (proxy == null) {
      return false;
    }
    synchronized (this) {
      Instant now = clock.instant();
      if (!now.isBefore(bypassUntil)) {
        bypassUntil = now.plus(BYPASS);
        RegistryStats.proxyFallback();
        String p = proxy.getHost() + ":" + proxy.getPort();
        LOG.warn("{}: proxy {} failed ({}); going to the registry directly for {} s", registry, p,
            cause.startsWith("proxy " + p + ": ") ? cause.substring(p.length() + 8) : cause, BYPASS.toSeconds());
      }
    }
    return true;
  }
}
