package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import java.io.EOFException;
import java.util.List;

/**
 * Tells a transient registry failure (worth trying again) from a lasting one, and names it for the
 * {@code modelcache_fetch_retries_total{reason}} metric. Pure and thread-safe.
 */
public final class Transient {
  /** A connection reset or broken while a request or its body was under way. */
  public static final String RESET = "reset";
  /** The connection closed cleanly before the whole body arrived. */
  public static final String TRUNCATED = "truncated";
  /** The registry answered 5xx. */
  public static final String SERVER_ERROR = "server_error";
  /** No response head, or no body bytes, within the client's timeouts. */
  public static final String TIMEOUT = "timeout";
  /** The registry could not be reached at all (refused, unknown host, connect timeout). */
  public static final String UNREACHABLE = "unreachable";
  /** A small blob or manifest that failed its digest, fetched again. */
  public static final String CORRUPT = "corrupt";
  /** Every value of the reason label, so the metric's series are known in advance. */
  public static final List<String> REASONS = List.of(RESET, TRUNCATED, SERVER_ERROR, TIMEOUT, UNREACHABLE, CORRUPT);

  private Transient() {}

  /**
   * The reason {@code t} is worth a retry, or null when it is not transient: a refusal, a missing
   * blob, bad content, a local file's error. Looks through the causes for the transport failure.
   */
  public static String reason(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof TransportException te) {
        return switch (te.kind()) {
          case SERVER -> SERVER_ERROR;
          case TIMEOUT -> TIMEOUT;
          case UNREACHABLE -> UNREACHABLE;
          case BROKEN -> te.shortCause().startsWith("connection closed after") ? TRUNCATED : RESET;
        };
      }
      if (c instanceof java.net.ConnectException || c instanceof java.net.UnknownHostException) {
        return UNREACHABLE;
      }
      if (c instanceof java.net.SocketTimeoutException) {
        return TIMEOUT;
      }
      if (c instanceof java.net.SocketException) {
        return RESET;
      }
      if (c instanceof ModelCacheException m && m.kind() != ModelCacheException.Kind.UNREACHABLE) {
        return null;
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return t instanceof EOFException ? TRUNCATED : null;
  }
}
