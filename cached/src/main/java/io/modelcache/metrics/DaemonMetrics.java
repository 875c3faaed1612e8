package io.modelcache.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelcache.cache.ChunkCache;
import io.modelcache.fuse.OperationListener;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Every metric the daemon exports. Names follow Prometheus conventions once Micrometer renders them
 * ({@code modelcache_cache_used_bytes}, {@code modelcache_registry_fetched_bytes_total},
 * {@code modelcache_fuse_operation_seconds}); labels are bounded: registry host, FUSE operation name,
 * mountpoint (one per mount), never file paths. Thread-safe.
 */
public final class DaemonMetrics implements OperationListener {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final ConcurrentHashMap<String, Timer> fuseOps = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> fetchedBytes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, List<Meter>> mountMeters = new ConcurrentHashMap<>();
  /** Micrometer holds gauge state weakly; these strong references keep each mount's view alive. */
  private final ConcurrentHashMap<String, MountView> mountViews = new ConcurrentHashMap<>();
  private final Timer fetchLatency;
  private final Counter prefetchIssued;
  private final Counter prefetchUsed;
  private final io.modelcache.fuse.PassthroughHook.Stats passthrough = new io.modelcache.fuse.PassthroughHook.Stats();

  public DaemonMetrics() {
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    fetchLatency = Timer.builder("modelcache.fetch.duration")
        .description("Time from issuing a range fetch to receiving its last byte")
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1))
        .maximumExpectedValue(Duration.ofSeconds(60))
        .register(registry);
    prefetchIssued = Counter.builder("modelcache.prefetch.issued").baseUnit("bytes")
        .description("Bytes requested by read-ahead and background fill").register(registry);
    prefetchUsed = Counter.builder("modelcache.prefetch.used").baseUnit("bytes")
        .description("Prefetched bytes that a reader later read").register(registry);
    FunctionCounter.builder("modelcache.fuse.passthrough.opens", passthrough, io.modelcache.fuse.PassthroughHook.Stats::passthroughOpens)
        .description("Opens answered with FUSE passthrough: the kernel reads the verified cache file itself")
        .register(registry);
    FunctionCounter.builder("modelcache.fuse.daemon.opens", passthrough, io.modelcache.fuse.PassthroughHook.Stats::daemonOpens)
        .description("Opens of files served by the daemon (kernel transport)").register(registry);
    FunctionCounter.builder("modelcache.fuse.passthrough.fallbacks", passthrough, io.modelcache.fuse.PassthroughHook.Stats::fallbacks)
        .description("Backing files the kernel refused; those files were served by the daemon").register(registry);
    FunctionCounter.builder("modelcache.fuse.spliced.replies", this, m -> io.modelcache.fuse.kernel.SpliceReply.sent())
        .description("READ replies of daemon-served files spliced from the verified cache file (kernel transport)")
        .register(registry);
    FunctionCounter.builder("modelcache.proxy.fallbacks", this, m -> io.modelcache.registry.RegistryStats.proxyFallbacks())
        .description("Times an HTTP proxy failed a whole retry budget and requests went to the registry directly")
        .register(registry);
    for (String reason : io.modelcache.registry.Transient.REASONS) {
      FunctionCounter.builder("modelcache.fetch.retries", this, m -> io.modelcache.registry.RegistryStats.retries(reason))
          .tag("reason", reason)
          .description("Registry requests tried again after a transient failure (reset, truncated, server_error, "
              + "timeout, unreachable) or a small blob or manifest that failed its digest (corrupt)")
          .register(registry);
    }
  }

  /** Counts the kernel transport's opens by how they are served. */
  public io.modelcache.fuse.PassthroughHook.Stats passthroughStats() {
    return passthrough;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Cache gauges and counters, read from the cache's own statistics at scrape time. */
  public void bindCache(ChunkCache cache) {
    Gauge.builder("modelcache.cache.used", cache, ChunkCache::usedBytes).baseUnit("bytes")
        .description("Bytes of chunk data held in the cache").register(registry);
    Gauge.builder("modelcache.cache.budget", cache, ChunkCache::budgetBytes).baseUnit("bytes")
        .description("The cache's byte budget").register(registry);
    counter("modelcache.cache.chunk.hits", "Chunk reads served from the cache", cache, c -> c.stats().hits());
    counter("modelcache.cache.chunk.misses", "Chunk reads that needed a fetch", cache, c -> c.stats().misses());
    counter("modelcache.cache.evictions", "Chunks evicted to stay within the budget", cache, c -> c.stats().evictions());
    FunctionCounter.builder("modelcache.cache.evicted", cache, c -> c.stats().evictedBytes()).baseUnit("bytes")
        .description("Bytes evicted to stay within the budget").register(registry);
    counter("modelcache.verify.failures", "Whole-blob verifications that failed (each is dropped, then fetched again or FAILED)", cache, c -> c.stats().verifyFailures());
    counter("modelcache.chunk.verify.failures", "Chunks that did not match their chunk index digest on arrival",
        cache, c -> c.chunkChecks().failures());
    counter("modelcache.chunk.refetches", "Chunks fetched again after failing their check", cache,
        c -> c.chunkChecks().refetches());
    counter("modelcache.cache.corrupt.chunks",
        "Cached chunks found damaged on disk (CRC32C mismatch when read back: by a read, before passthrough, in cache verify or after an unclean stop) and dropped",
        cache, ChunkCache::corruptChunks);
    counter("modelcache.blob.refetches", "Blobs dropped after failing whole-blob verification and fetched again",
        cache, ChunkCache::blobRefetches);
    counter("modelcache.fetches.cancelled",
        "Read-ahead and fill fetches cancelled, mid-stream or queued, because their blob's last handle closed",
        cache, ChunkCache::cancelledFetches);
    FunctionCounter.builder("modelcache.cache.lent", cache, ChunkCache::lentBytes).baseUnit("bytes")
        .description("Bytes the kernel transport wrote to readers straight from the cache's memory (chunks just fetched), without a copy into a reply buffer")
        .register(registry);
    counter("modelcache.chunk.index.rejected", "Blobs for which the chunk index proved wrong", cache,
        c -> c.chunkChecks().indexRejected());
    Gauge.builder("modelcache.cache.pinned", cache, ChunkCache::pinnedBytes).baseUnit("bytes")
        .description("Bytes of blobs whose cache file is held open for passthrough reads (eviction skips them)")
        .register(registry);
    Gauge.builder("modelcache.cache.pinned.files", cache, ChunkCache::pinnedFiles)
        .description("Cache files held open for passthrough reads").register(registry);
    counter("modelcache.cache.evictions.skipped",
        "Chunk evictions passed over because a cache file held open for passthrough pins their blob", cache,
        c -> c.stats().evictionsSkipped());
    Gauge.builder("modelcache.cache.inflight.chunks", cache, c -> c.stats().inflightChunks())
        .description("Chunks being fetched now").register(registry);
  }

  private void counter(String name, String help, ChunkCache cache, ToDoubleFunction<ChunkCache> f) {
    FunctionCounter.builder(name, cache, f).description(help).register(registry);
  }

  /** Counts bytes received from a registry (label: host, or "oci-layout"). */
  public void fetched(String registryHost, long bytes) {
    fetchedBytes.computeIfAbsent(registryHost, h -> Counter.builder("modelcache.registry.fetched").baseUnit("bytes")
        .description("Bytes received from each registry").tag("registry", h).register(registry)).increment(bytes);
  }

  public void fetchCompleted(long nanos) {
    fetchLatency.record(nanos, TimeUnit.NANOSECONDS);
  }

  public void prefetchIssued(long bytes) {
    prefetchIssued.increment(bytes);
  }

  public void prefetchUsed(long bytes) {
    prefetchUsed.increment(bytes);
  }

  /** Per-mount meters: bytes read, fraction cached, time to first byte. */
  public interface MountView {
    long bytesRead();

    double cachedFraction();

    /** Seconds from mount to the first byte served, or NaN before that. */
    double firstByteSeconds();

    /** How served bytes are verified: one of {@link #VERIFICATION_MODES}. */
    default String verification() {
      return "lazy";
    }
  }

  /** The values of the mount verification gauge's {@code mode} label. */
  public static final List<String> VERIFICATION_MODES = List.of("chunks", "lazy", "strict");

  public void bindMount(String mountpoint, MountView m) {
    mountViews.put(mountpoint, m);
    Tags tags = Tags.of("mount", mountpoint);
    List<Meter> meters = new ArrayList<>();
    meters.add(FunctionCounter.builder("modelcache.mount.read", m, MountView::bytesRead).baseUnit("bytes").tags(tags)
        .description("Bytes read through each mount").register(registry));
    meters.add(Gauge.builder("modelcache.mount.cached.ratio", m, MountView::cachedFraction).tags(tags)
        .description("Fraction of each mounted model's bytes present in the cache").register(registry));
    meters.add(Gauge.builder("modelcache.mount.first.byte", m, MountView::firstByteSeconds).baseUnit("seconds").tags(tags)
        .description("Time from mount to the first byte served").register(registry));
    for (String mode : VERIFICATION_MODES) {
      meters.add(Gauge.builder("modelcache.mount.verification", m, v -> mode.equals(v.verification()) ? 1 : 0)
          .tags(tags.and("mode", mode))
          .description("How each mount verifies served bytes (1 for its mode): chunks against a chunk index; "
              + "without one, lazy (served as they arrive, whole blobs checked once complete) or strict "
              + "(served only once the whole blob is verified)").register(registry));
    }
    List<Meter> old = mountMeters.put(mountpoint, meters);
    if (old != null) {
      old.forEach(registry::remove);
    }
  }

  public void unbindMount(String mountpoint) {
    mountViews.remove(mountpoint);
    List<Meter> old = mountMeters.remove(mountpoint);
    if (old != null) {
      old.forEach(registry::remove);
    }
  }

  @Override
  public void completed(String op, long nanos, int result) {
    fuseOps.computeIfAbsent(op, o -> Timer.builder("modelcache.fuse.operation").tag("op", o)
        .description("Latency of FUSE operations")
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(10_000))
        .maximumExpectedValue(Duration.ofSeconds(60))
        .register(registry)).record(nanos, TimeUnit.NANOSECONDS);
  }

}
