package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private final Backoff b = new Backoff(Duration.ofMillis(200), Duration.ofSeconds(5));

  @Test
  void doublesUpToTheCap() {
    assertEquals(200, b.delay(1, 1.0).toMillis());
    assertEquals(400, b.delay(2, 1.0).toMillis());
    assertEquals(800, b.delay(3, 1.0).toMillis());
    assertEquals(3200, b.delay(5, 1.0).toMillis());
    assertEquals(5000, b.delay(6, 1.0).toMillis());
    assertEquals(5000, b.delay(1000, 1.0).toMillis());
  }

  @Test
  void jitterRandomisesTheUpperHalf() {
    assertEquals(100, b.delay(1, 0.0).toMillis());
    assertEquals(150, b.delay(1, 0.5).toMillis());
    assertEquals(2500, b.delay(40, 0.0).toMillis());
  }

  @Test
  void noDelayBeforeTheFirstFailure() {
    assertEquals(0, b.delay(0, 1.0).toMillis());
  }
}
