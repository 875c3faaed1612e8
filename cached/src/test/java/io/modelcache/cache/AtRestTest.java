package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The open's read-back gives up early when the rate so far cannot finish the file in time. */
class AtRestTest {
  private static final long MIB = 1L << 20;
  private static final long SEC = TimeUnit.SECONDS.toNanos(1);

  @Test
  void tooLittleReadToJudgeKeepsGoingUntilTheDeadline() {
    long now = System.nanoTime();
    assertFalse(AtRest.outOfTime(now - 5 * SEC, 10 * MIB, 100_000 * MIB, now + SEC), "10 MiB read: no rate yet");
    assertTrue(AtRest.outOfTime(now - 5 * SEC, 10 * MIB, 1, now - 1), "past the deadline");
  }

  @Test
  void theRateSoFarDecides() {
    long now = System.nanoTime();
    // 1 GiB in 1 s so far: 5 GiB more needs about 5 s.
    assertFalse(AtRest.outOfTime(now - SEC, 1024 * MIB, 5 * 1024 * MIB, now + 9 * SEC));
    assertTrue(AtRest.outOfTime(now - SEC, 1024 * MIB, 5 * 1024 * MIB, now + 3 * SEC));
  }
}
