package io.modelcache.daemon;

import io.modelcache.fetch.PrefetchObserver;
import io.modelcache.fetch.ReadAheadOptions;
import io.modelcache.metrics.DaemonMetrics;
import io.modelcache.mount.ModelMount;

/**
 * How a mount reports to the daemon's metrics: bytes fetched (per registry and per mount), fetch
 * latencies, read-ahead issued and used, and the mount's own gauges. Adapters only; each is called
 * from fetch and FUSE threads and is as thread-safe as the metrics it feeds.
 */
final class MountWiring {
  private MountWiring() {}

  /** Counts what a mount's fetches received, under {@code registryLabel} and for its tracker. */
  static ModelMount.FetchObserver fetchObserver(DaemonMetrics metrics, String registryLabel,
      OperatorOps.MountTracker tracker) {
    return new ModelMount.FetchObserver() {
      @Override
      public void fetched(long bytes) {
        metrics.fetched(registryLabel, bytes);
        tracker.fetched(bytes);
      }

      @Override
      public void fetchCompleted(long nanos) {
        metrics.fetchCompleted(nanos);
      }
    };
  }

  /** The read-ahead the configuration asks for, its profiles in the home, counted in the metrics. */
  static ReadAheadOptions readAhead(DaemonConfig config, DaemonMetrics metrics) {
    return ReadAheadOptions.defaults()
        .withPrefetch(config.settings().prefetch())
        .withBackgroundFill(config.settings().backgroundFill())
        .withProfileDir(config.home().resolve("profiles"))
        .withObserver(new PrefetchObserver() {
          @Override
          public void issued(long bytes) {
            metrics.prefetchIssued(bytes);
          }

          @Override
          public void used(long bytes) {
            metrics.prefetchUsed(bytes);
          }
        });
  }

  /** The mount's gauges (bytes read, cached fraction, first byte, verification mode). */
  static DaemonMetrics.MountView view(ModelMount m) {
    return new DaemonMetrics.MountView() {
      @Override
      public long bytesRead() {
        return m.bytesRead();
      }

      @Override
      public double cachedFraction() {
        return m.cachedFraction();
      }

      @Override
      public double firstByteSeconds() {
        return m.firstByteSeconds();
      }

      @Override
      public String verification() {
        return m.verification();
      }
    };
  }
}
