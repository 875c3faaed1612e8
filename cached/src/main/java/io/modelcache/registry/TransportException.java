package io.modelcache.registry;

import java.io.IOException;

/** A network-level failure (no usable HTTP answer); {@link #shortCause} is for user messages. */
final class TransportException extends IOException {
  private static final long serialVersionUID = 1L;

  enum Kind {
    UNREACHABLE,
    TIMEOUT,
    /** The connection failed after the request was sent or while reading a body. */
    BROKEN,
    /** The registry answered 5xx (retryable; shortCause is "status reason"). */
    SERVER
  }

  private final Kind kind;
  private final String shortCause;
  /** True when nothing of the response was received (safe to replay on a fresh connection). */
  private final boolean beforeResponse;

  TransportException(Kind kind, String shortCause, boolean beforeResponse, Throwable cause) {
    super(shortCause, cause);
    this.kind = kind;
    this.shortCause = shortCause;
    this.beforeResponse = beforeResponse;
  }

  Kind kind() {
    return kind;
  }

  String shortCause() {
    return shortCause;
  }

  boolean beforeResponse() {
    return beforeResponse;
  }
}
