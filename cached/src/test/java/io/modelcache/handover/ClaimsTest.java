package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClaimsTest {
  private static final long S = 1_000_000_000L;
  private final Claims claims = new Claims(Duration.ofSeconds(300));

  @Test
  void aClaimedNameNeverExpires() {
    claims.claim("a", 1);
    assertEquals(List.of(), claims.expired(10_000 * S));
    assertEquals(-1, claims.nanosUntilNextExpiry(10_000 * S));
    assertFalse(claims.isOrphaned("a"));
  }

  @Test
  void theGraceStartsWhenTheLastClaimingSessionCloses() {
    claims.claim("a", 1);
    claims.claim("a", 2); // a second daemon took it back while the first was still connected
    claims.sessionClosed(1, 100 * S);
    assertFalse(claims.isOrphaned("a"));
    claims.sessionClosed(2, 200 * S);
    assertTrue(claims.isOrphaned("a"));
    assertEquals(300 * S, claims.nanosUntilNextExpiry(200 * S));
    assertEquals(List.of(), claims.expired(499 * S));
    assertEquals(S, claims.nanosUntilNextExpiry(499 * S));
    assertEquals(List.of("a"), claims.expired(500 * S));
    assertEquals(0, claims.nanosUntilNextExpiry(600 * S));
  }

  @Test
  void takingANameBackWithinTheGraceKeepsIt() {
    claims.claim("a", 1);
    claims.claim("b", 1);
    claims.sessionClosed(1, 0);
    claims.claim("a", 7); // the next daemon takes a back, not b
    assertEquals(List.of("b"), claims.expired(300 * S));
    claims.forget("b");
    assertEquals(List.of(), claims.expired(10_000 * S));
    claims.sessionClosed(7, 10_000 * S); // and it dies too: a's grace starts again from then
    assertEquals(List.of(), claims.expired(10_299 * S));
    assertEquals(List.of("a"), claims.expired(10_300 * S));
  }

  @Test
  void forgettingEndsEverything() {
    claims.claim("a", 1);
    claims.sessionClosed(1, 0);
    claims.forget("a");
    assertTrue(claims.isEmpty());
    assertEquals(-1, claims.nanosUntilNextExpiry(0));
    assertEquals(List.of(), claims.expired(Long.MAX_VALUE / 2));
  }

  @Test
  void aSessionThatClaimedNothingChangesNothing() {
    claims.claim("a", 1);
    claims.sessionClosed(2, 0);
    assertFalse(claims.isOrphaned("a"));
    assertEquals(-1, claims.nanosUntilNextExpiry(0));
  }

  @Test
  void zeroGraceAbortsAtOnce() {
    Claims now = new Claims(Duration.ZERO);
    now.claim("a", 1);
    now.sessionClosed(1, 5);
    assertEquals(List.of("a"), now.expired(5));
  }
}
