package io.modelcache.testkit;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Which faults a {@link FaultProxy} injects, decided per request from a seed: the n-th request the
 * plan {@link #applies to} gets {@link #decide(long) decide(n)}, a pure function of (seed, n), so a
 * plan replays the same faults for the same sequence of requests. The rates are fractions of those
 * requests (their sum at most 1); every other request passes untouched.
 *
 * @param seed seeds every decision
 * @param resets answer, then reset the connection (RST) part-way through the body
 * @param serverErrors answer 503 without asking the registry
 * @param flips flip one bit of one byte of the body
 * @param truncations send part of the body, then close the connection cleanly (FIN)
 * @param slowStarts wait {@code slowDelay} before sending the response head
 * @param slowDelay how long a slow start waits
 * @param applies the requests the plan may fault (e.g. {@link #BLOB_GETS})
 */
public record FaultPlan(long seed, double resets, double serverErrors, double flips, double truncations,
    double slowStarts, Duration slowDelay, Predicate<Request> applies) {

  /** What the proxy saw of a request: method and path (query included). */
  public record Request(String method, String path) {}

  /** GETs of {@code /v2/<name>/blobs/<digest>}: the requests that carry layer, config and index bytes. */
  public static final Predicate<Request> BLOB_GETS = r -> r.method().equals("GET")
      && r.path().startsWith("/v2/") && r.path().contains("/blobs/sha256:");

  public enum Kind {
    NONE,
    RESET,
    SERVER_ERROR,
    FLIP,
    TRUNCATE,
    SLOW_START
  }

  /**
   * One decision: {@code kind}, where in the body it strikes ({@code at}, a fraction in [0, 1)), and
   * for flips the bit mask XORed into that byte.
   */
  public record Fault(Kind kind, double at, int mask) {
    public static final Fault NONE = new Fault(Kind.NONE, 0, 0);

    /** The body offset the fault strikes in a body of {@code length} bytes (0 for an empty one). */
    public long offsetIn(long length) {
      return length <= 0 ? 0 : Math.min(length - 1, (long) (at * length));
    }
  }

  public FaultPlan {
    double sum = 0;
    for (double r : new double[] {resets, serverErrors, flips, truncations, slowStarts}) {
      if (r < 0 || r > 1 || Double.isNaN(r)) {
        throw new IllegalArgumentException("fault rates are fractions in [0, 1], got " + r);
      }
      sum += r;
    }
    if (sum > 1 + 1e-9) {
      throw new IllegalArgumentException("fault rates add up to " + sum + ", more than 1");
    }
    if (slowDelay == null || slowDelay.isNegative()) {
      throw new IllegalArgumentException("slow start delay must be >= 0");
    }
    if (applies == null) {
      throw new IllegalArgumentException("no request predicate");
    }
  }

  /** No faults, for blob GETs, with {@code seed}. */
  public static FaultPlan seeded(long seed) {
    return new FaultPlan(seed, 0, 0, 0, 0, 0, Duration.ofSeconds(2), BLOB_GETS);
  }

  public FaultPlan withResets(double v) {
    return new FaultPlan(seed, v, serverErrors, flips, truncations, slowStarts, slowDelay, applies);
  }

  public FaultPlan withServerErrors(double v) {
    return new FaultPlan(seed, resets, v, flips, truncations, slowStarts, slowDelay, applies);
  }

  public FaultPlan withFlips(double v) {
    return new FaultPlan(seed, resets, serverErrors, v, truncations, slowStarts, slowDelay, applies);
  }

  public FaultPlan withTruncations(double v) {
    return new FaultPlan(seed, resets, serverErrors, flips, v, slowStarts, slowDelay, applies);
  }

  public FaultPlan withSlowStarts(double v, Duration delay) {
    return new FaultPlan(seed, resets, serverErrors, flips, truncations, v, delay, applies);
  }

  public FaultPlan onlyFor(Predicate<Request> v) {
    return new FaultPlan(seed, resets, serverErrors, flips, truncations, slowStarts, slowDelay, v);
  }

  /** The fault for the {@code n}-th request (0-based) the plan applies to. */
  public Fault decide(long n) {
    SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + n);
    double u = r.nextDouble();
    double at = r.nextDouble();
    int mask = 1 << r.nextInt(8);
    double edge = 0;
    Kind[] kinds = {Kind.RESET, Kind.SERVER_ERROR, Kind.FLIP, Kind.TRUNCATE, Kind.SLOW_START};
    double[] rates = {resets, serverErrors, flips, truncations, slowStarts};
    for (int i = 0; i < kinds.length; i++) {
      edge += rates[i];
      if (u < edge) {
        return new Fault(kinds[i], at, mask);
      }
    }
    return Fault.NONE;
  }
}
