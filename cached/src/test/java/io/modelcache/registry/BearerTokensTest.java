package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class BearerTokensTest {
  private Instant now = Instant.parse("2026-01-01T00:00:00Z");
  private final Clock clock = new Clock() {
    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  };

  @Test
  void tokensExpireShortlyBeforeTheirLifetime() {
    BearerTokens t = new BearerTokens(clock);
    t.put("repository:a:pull", "tok", 0);
    assertEquals("tok", t.get("repository:a:pull"));
    assertNull(t.get("repository:a:pull,push"));
    now = now.plus(Duration.ofSeconds(54));
    assertEquals("tok", t.get("repository:a:pull"));
    now = now.plus(Duration.ofSeconds(1));
    assertNull(t.get("repository:a:pull"));
  }

  @Test
  void explicitLifetimeAndInvalidate() {
    BearerTokens t = new BearerTokens(clock);
    t.put("s", "x", 300);
    now = now.plus(Duration.ofSeconds(294));
    assertEquals("x", t.get("s"));
    t.invalidate("s");
    assertNull(t.get("s"));
  }
}
