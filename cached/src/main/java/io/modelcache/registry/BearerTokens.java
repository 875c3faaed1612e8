package io.modelcache.registry;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Bearer tokens per scope, valid until shortly before they expire by the injected clock. */
final class BearerTokens {
  static final Duration DEFAULT_LIFETIME = Duration.ofSeconds(60);
  private static final Duration MARGIN = Duration.ofSeconds(5);

  private record Token(String value, Instant expiresAt) {}

  private final Clock clock;
  private final Map<String, Token> tokens = new ConcurrentHashMap<>();

  BearerTokens(Clock clock) {
    this.clock = clock;
  }

  /** The cached token for {@code scope}, or null when absent or (nearly) expired. */
  String get(String scope) {
    Token t = tokens.get(scope);
    if (t == null || !clock.instant().isBefore(t.expiresAt)) {
      return null;
    }
    return t.value;
  }

  /** Stores a token; {@code expiresInSeconds <= 0} means the 60 s default. */
  void put(String scope, String token, long expiresInSeconds) {
    Duration life = expiresInSeconds > 0 ? Duration.ofSeconds(expiresInSeconds) : DEFAULT_LIFETIME;
    Duration usable = life.compareTo(MARGIN.multipliedBy(2)) > 0 ? life.minus(MARGIN) : life;
    tokens.put(scope, new Token(token, clock.instant().plus(usable)));
  }

  void invalidate(String scope) {
    tokens.remove(scope);
  }

  /** Forgets every token (the credentials they were issued for changed). */
  void clear() {
    tokens.clear();
  }
}
