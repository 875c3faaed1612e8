package io.modelcache.daemon;

import java.util.function.LongSupplier;

/**
 * Bytes per second over the last few whole seconds, kept as one counter per second in a small ring,
 * so a rate costs no sampling thread: {@link #add} lands in the current second's slot and
 * {@link #perSecond} sums the completed seconds of the window. Thread-safe (monitor; adds are
 * per fetched buffer, not per byte).
 */
final class RateWindow {
  static final int WINDOW_SECONDS = 5;
  private static final int SLOTS = WINDOW_SECONDS + 2;

  private final LongSupplier nanos;
  private final long startSecond;
  private final long[] second = new long[SLOTS];
  private final long[] bytes = new long[SLOTS];
  private long total;

  RateWindow(LongSupplier nanos) {
    this.nanos = nanos;
    this.startSecond = nowSecond();
    java.util.Arrays.fill(second, Long.MIN_VALUE);
  }

  private long nowSecond() {
    return Math.floorDiv(nanos.getAsLong(), 1_000_000_000L);
  }

  synchronized void add(long n) {
    long s = nowSecond();
    int i = (int) Math.floorMod(s, SLOTS);
    if (second[i] != s) {
      second[i] = s;
      bytes[i] = 0;
    }
    bytes[i] += n;
    total += n;
  }

  /** Everything added since creation. */
  synchronized long total() {
    return total;
  }

  /**
   * Mean over the last {@value #WINDOW_SECONDS} completed seconds, or over the completed seconds
   * since creation when fewer have passed (so a young transfer is not under-reported); 0 before one
   * whole second has passed.
   */
  synchronized double perSecond() {
    long now = nowSecond();
    long span = Math.min(WINDOW_SECONDS, now - startSecond);
    if (span <= 0) {
      return 0;
    }
    long sum = 0;
    for (int k = 0; k < SLOTS; k++) {
      if (second[k] >= now - span && second[k] < now) {
        sum += bytes[k];
      }
    }
    return (double) sum / span;
  }
}
