package io.modelcache.registry;

import java.time.Duration;

/**
 * Capped exponential backoff with "equal jitter": attempt n (1-based, the retry after the n-th failure)
 * waits {@code min(max, base * 2^(n-1))}, of which the upper half is randomised by {@code jitter01}.
 */
public record Backoff(Duration base, Duration max) {
  public Duration delay(int failedAttempts, double jitter01) {
    if (failedAttempts < 1) {
      return Duration.ZERO;
    }
    long baseMs = Math.max(1, base.toMillis());
    int shift = Math.min(failedAttempts - 1, 30);
    long cap = Math.min(max.toMillis(), baseMs << shift);
    if (baseMs << shift < 0) {
      cap = max.toMillis();
    }
    double j = Math.max(0, Math.min(1, jitter01));
    long half = cap / 2;
    return Duration.ofMillis(cap - half + (long) (half * j));
  }
}
