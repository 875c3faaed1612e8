package io.modelcache.fetch;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How a mount fetches ahead of its readers.
 *
 * @param prefetch read ahead of each open file: in loader order where the safetensors headers give
 *     one, in file order otherwise; also replays a learned profile at mount
 * @param backgroundFill after mount, bring the whole model into the cache at the lowest priority
 * @param initialWindow first read-ahead window in bytes (0: two chunks)
 * @param maxWindow the window doubles up to this while reads stay sequential
 * @param fillRequestBytes size of each coalesced background-fill request (16-64 MiB is right for a
 *     registry on a fast link: few requests, each long enough to reach full speed)
 * @param fillConnections background-fill (and profile replay) requests in flight at once
 * @param fillBudgetFraction fill stops once the cache holds this fraction of its budget, so it
 *     never evicts what readers use
 * @param profileDir where learned access profiles live ({@code <digest-hex>.profile}); null: none
 * @param observer metrics hook
 */
public record ReadAheadOptions(
    boolean prefetch,
    boolean backgroundFill,
    long initialWindow,
    long maxWindow,
    long fillRequestBytes,
    int fillConnections,
    double fillBudgetFraction,
    Path profileDir,
    PrefetchObserver observer) {
  public static final long DEFAULT_MAX_WINDOW = 64L << 20;
  /**
   * 64 MiB: the registry's CPU per GiB fell from 1.51 to 1.20 s against 32 MiB fill and 16 MiB
   * read-ahead requests (curl's whole-blob GETs: 0.80; bench/profile, docs/performance.md), and a
   * fetch coalesces at most 64 MiB anyway. Overridable for measurements
   * ({@code -Dmodelcache.fill.requestBytes=N}).
   */
  public static final long DEFAULT_FILL_REQUEST = Long.getLong("modelcache.fill.requestBytes", 64L << 20);

  public ReadAheadOptions {
    if (initialWindow < 0 || maxWindow <= 0 || fillRequestBytes <= 0 || fillConnections < 1) {
      throw new IllegalArgumentException("read-ahead windows, fill request size and connections must be positive");
    }
    if (!(fillBudgetFraction > 0 && fillBudgetFraction <= 1)) {
      throw new IllegalArgumentException("fill budget fraction must be in (0, 1], got " + fillBudgetFraction);
    }
    observer = Objects.requireNonNullElse(observer, PrefetchObserver.NONE);
  }

  /** Read-ahead and background fill on, 64 MiB windows, 64 MiB fill requests on 2 connections. */
  public static ReadAheadOptions defaults() {
    return new ReadAheadOptions(true, true, 0, DEFAULT_MAX_WINDOW, DEFAULT_FILL_REQUEST, 2, 0.9, null,
        PrefetchObserver.NONE);
  }

  /** Nothing ahead of readers: the behaviour of a mount without options. */
  public static ReadAheadOptions off() {
    return defaults().withPrefetch(false).withBackgroundFill(false);
  }

  public boolean enabled() {
    return prefetch || backgroundFill;
  }

  public ReadAheadOptions withPrefetch(boolean v) {
    return new ReadAheadOptions(v, backgroundFill, initialWindow, maxWindow, fillRequestBytes, fillConnections,
        fillBudgetFraction, profileDir, observer);
  }

  public ReadAheadOptions withBackgroundFill(boolean v) {
    return new ReadAheadOptions(prefetch, v, initialWindow, maxWindow, fillRequestBytes, fillConnections,
        fillBudgetFraction, profileDir, observer);
  }

  public ReadAheadOptions withWindows(long initial, long max) {
    return new ReadAheadOptions(prefetch, backgroundFill, initial, max, fillRequestBytes, fillConnections,
        fillBudgetFraction, profileDir, observer);
  }

  public ReadAheadOptions withFill(long requestBytes, int connections, double budgetFraction) {
    return new ReadAheadOptions(prefetch, backgroundFill, initialWindow, maxWindow, requestBytes, connections,
        budgetFraction, profileDir, observer);
  }

  public ReadAheadOptions withProfileDir(Path v) {
    return new ReadAheadOptions(prefetch, backgroundFill, initialWindow, maxWindow, fillRequestBytes, fillConnections,
        fillBudgetFraction, v, observer);
  }

  public ReadAheadOptions withObserver(PrefetchObserver v) {
    return new ReadAheadOptions(prefetch, backgroundFill, initialWindow, maxWindow, fillRequestBytes, fillConnections,
        fillBudgetFraction, profileDir, v);
  }
}
