package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The retry loop of every registry request: network failures and 5xx are tried again with capped
 * exponential backoff, up to {@link RegistryOptions#maxAttempts} attempts. Two rules on top:
 * <ul>
 *   <li>Timeouts are tried {@link #MAX_TIMEOUTS} times, not maxAttempts: each one costs a whole timeout
 *       (30 s by default), and a registry that accepts connections and then says nothing rarely recovers
 *       within the minutes that four of them would take. A mount of such a registry fails in about a
 *       minute, not two.
 *   <li>When the attempts went through a proxy, one more budget goes straight to the registry
 *       ({@link ProxyRouting}); the switch is logged once it has an outcome, so that a command whose
 *       registry is unreachable both ways prints one error line naming both.
 * </ul>
 * Stateless per call; thread-safe.
 */
final class Retries {
  private static final Logger LOG = LoggerFactory.getLogger(Retries.class);
  /** Timed-out attempts per budget. */
  static final int MAX_TIMEOUTS = 2;

  /** One attempt of a request. */
  interface Op<T> {
    T run() throws IOException;
  }

  private final String host;
  private final URI base;
  private final RegistryOptions opts;
  private final HttpTransport http;

  Retries(String host, URI base, RegistryOptions opts, HttpTransport http) {
    this.host = host;
    this.base = base;
    this.opts = opts;
    this.http = http;
  }

  <T> T run(Op<T> op) throws IOException {
    int attempt = 0;
    int timeouts = 0;
    ProxyRouting.Fallback fallback = null;
    while (true) {
      attempt++;
      try {
        T result = op.run();
        if (fallback != null && fallback.announce()) {
          LOG.warn(fallback.warning());
        }
        return result;
      } catch (TransportException e) {
        if (e.kind() == TransportException.Kind.TIMEOUT) {
          timeouts++;
        }
        if (attempt >= opts.maxAttempts() || timeouts >= MAX_TIMEOUTS) {
          if (fallback == null && (fallback = http.fallBackToDirect(base, e.shortCause())) != null) {
            attempt = 0; // the proxy used up the budget: one more budget straight to the registry
            timeouts = 0;
            continue;
          }
          throw fallback == null ? userError(e) : fallback.failedToo(userError(e));
        }
        RegistryStats.retried(Transient.reason(e));
        Duration d = opts.backoff().delay(attempt, ThreadLocalRandom.current().nextDouble());
        LOG.debug("{}: attempt {} failed ({}), retrying in {} ms", host, attempt, e.shortCause(), d.toMillis());
        try {
          opts.sleeper().sleep(d);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while retrying " + host);
        }
      }
    }
  }

  /** The one-line error for a request whose attempts all failed with {@code e}. */
  ModelCacheException userError(TransportException e) {
    return switch (e.kind()) {
      case TIMEOUT -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry timed out (" + e.shortCause() + ")", e);
      case SERVER -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry error (" + e.shortCause() + ")", e);
      default -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry unreachable (" + e.shortCause() + ")", e);
    };
  }
}
