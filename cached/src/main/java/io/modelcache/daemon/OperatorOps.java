package io.modelcache.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.CacheStats;
import io.modelcache.cache.ChunkCache;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fuse.OperationListener;
import io.modelcache.metrics.DaemonMetrics;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import io.modelcache.source.ResilientSource;
import io.modelcache.trust.TrustGate;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The daemon's operator operations behind {@code modelcache status}, {@code pull REF} (warm),
 * {@code mount --wait-full} and {@code modelcache cache ls|verify|evict|gc}. It sees the daemon's
 * mounts only through a snapshot supplier (the daemon's lock is held just to copy the list), so a
 * long verify, evict or warm never blocks mounts; the cache's own per-blob locking makes a blob
 * opened meanwhile safe from eviction. Per-mount fetch rates and read errors come from a {@link MountTracker}
 * the daemon wires into each mount. Thread-safe.
 */
final class OperatorOps {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
  private static final int KEEP_JOBS = 32;
  private static final int WARM_PARALLEL = 4;
  private static final int ENOENT = 2;
  private static final int ENODATA = 61;

  private final DaemonConfig config;
  private final ChunkCache cache;
  private final DaemonMetrics metrics;
  private final Supplier<List<ActiveMount>> mounts;
  private final IntSupplier metricsPort;
  private final LongSupplier nanos;
  private final Clock wall;
  private final long startNanos;
  private final Map<String, MountTracker> trackers = new ConcurrentHashMap<>();
  private final Map<Long, WarmJob> jobs = new LinkedHashMap<>();
  private final AtomicLong jobIds = new AtomicLong();
  private final CacheOps cacheOps;
  private final ProfileOps profileOps;

  OperatorOps(DaemonConfig config, ChunkCache cache, DaemonMetrics metrics, Supplier<List<ActiveMount>> mounts,
      IntSupplier metricsPort) {
    this(config, cache, metrics, mounts, metricsPort, System::nanoTime, Clock.systemUTC());
  }

  OperatorOps(DaemonConfig config, ChunkCache cache, DaemonMetrics metrics, Supplier<List<ActiveMount>> mounts,
      IntSupplier metricsPort, LongSupplier nanos, Clock wall) {
    this.config = config;
    this.cache = cache;
    this.metrics = metrics;
    this.mounts = mounts;
    this.metricsPort = metricsPort;
    this.nanos = nanos;
    this.wall = wall;
    this.startNanos = nanos.getAsLong();
    this.cacheOps = new CacheOps(config, cache, mounts, this::users);
    this.profileOps = new ProfileOps(config, mounts);
  }

  ObjectNode handle(String op, JsonNode req) throws IOException {
    return switch (op) {
      case "status" -> status();
      case "warm" -> warm(req);
      case "progress" -> progress(req.path("job").asLong(-1));
      case "cache-ls" -> cacheOps.list();
      case "cache-verify" -> cacheOps.verify(req.path("ref").asText(""));
      case "cache-evict" -> cacheOps.evict(req.path("ref").asText(""));
      case "cache-gc" -> cacheOps.gc();
      case "profile-export", "profile-import", "profile-ls" -> profileOps.handle(op, req);
      default -> throw new ModelCacheException(Kind.USAGE, "unknown control operation '" + op + "'");
    };
  }

  // ---------------------------------------------------------------- mount tracking

  /** Starts tracking a new mount at {@code mountpoint}; FUSE results are forwarded to {@code next}. */
  MountTracker track(Path mountpoint, OperationListener next) {
    MountTracker t = new MountTracker(new RateWindow(nanos), next, wall);
    trackers.put(mountpoint.toString(), t);
    return t;
  }

  void untrack(String mountpoint) {
    trackers.remove(mountpoint);
  }

  /**
   * Per mount: upstream bytes in a rate window, and FUSE reads that failed. A failed read (EIO from a
   * fetch that failed or timed out, a blob that failed verification) is what a user of the mount
   * sees; lookups of missing names (ENOENT, ENODATA) are normal and not counted.
   */
  static final class MountTracker implements OperationListener {
    final RateWindow fetchRate;
    private final OperationListener next;
    private final Clock wall;
    private final AtomicLong errors = new AtomicLong();
    private volatile String lastError;

    MountTracker(RateWindow fetchRate, OperationListener next, Clock wall) {
      this.fetchRate = fetchRate;
      this.next = next;
      this.wall = wall;
    }

    void fetched(long bytes) {
      fetchRate.add(bytes);
    }

    @Override
    public void completed(String op, long nanos, int result) {
      if (result < 0 && (op.equals("read") || op.equals("open")) && -result != ENOENT && -result != ENODATA) {
        errors.incrementAndGet();
        lastError = op + " failed with " + errnoName(-result) + " at "
            + Instant.now(wall).truncatedTo(ChronoUnit.SECONDS);
      }
      if (next != null) {
        next.completed(op, nanos, result);
      }
    }

    long errors() {
      return errors.get();
    }

    String lastError() {
      return lastError;
    }
  }

  static String errnoName(int errno) {
    return switch (errno) {
      case 1 -> "EPERM";
      case 4 -> "EINTR";
      case 5 -> "EIO";
      case 12 -> "ENOMEM";
      case 13 -> "EACCES";
      case 22 -> "EINVAL";
      case 110 -> "ETIMEDOUT";
      default -> "errno " + errno;
    };
  }

  // ---------------------------------------------------------------- status

  private java.util.function.Predicate<String> survives = mp -> false;
  private String keeper = "off";

  /** Which mounts survive a restart, and what keeps them (set once by the daemon at start). */
  void survivesRestart(java.util.function.Predicate<String> survives, String keeper) {
    this.survives = survives;
    this.keeper = keeper;
  }

  ObjectNode status() {
    ObjectNode out = JSON.objectNode();
    String v = System.getProperty("modelcache.version", Daemon.class.getPackage().getImplementationVersion());
    int port = metricsPort.getAsInt();
    String addr = config.settings().metricsAddress();
    out.put("pid", ProcessHandle.current().pid())
        .put("uptimeSeconds", (nanos.getAsLong() - startNanos) / 1_000_000_000L)
        .put("version", v == null ? "dev" : v)
        .put("home", config.home().toString())
        .put("metricsAddress", port < 0 ? "off" : addr.replaceAll(":\\d+$", "") + ":" + port)
        .put("restartKeeper", keeper);
    CacheStats s = cache.stats();
    long used = cache.usedBytes();
    long budget = cache.budgetBytes();
    ObjectNode c = out.putObject("cache");
    c.put("usedBytes", used)
        .put("budgetBytes", budget)
        .put("usedPercent", budget == 0 ? 0.0 : round1(100.0 * used / budget))
        .put("blobs", cache.list().size())
        .put("hits", s.hits())
        .put("misses", s.misses())
        .put("bytesFetched", s.bytesFetched())
        .put("evictions", s.evictions())
        .put("evictedBytes", s.evictedBytes())
        .put("verifyFailures", s.verifyFailures())
        .put("blobRefetches", cache.blobRefetches())
        .put("corruptChunks", cache.corruptChunks())
        .put("chunkVerifyFailures", cache.chunkChecks().failures())
        .put("chunkRefetches", cache.chunkChecks().refetches())
        .put("chunkIndexRejected", cache.chunkChecks().indexRejected())
        .put("inflightChunks", s.inflightChunks())
        .put("pinnedBytes", cache.pinnedBytes())
        .put("evictionsSkipped", s.evictionsSkipped());
    ArrayNode arr = out.putArray("mounts");
    for (ActiveMount a : mounts.get()) {
      long total = a.model().totalBytes();
      long cached = Math.min(total, a.model().cachedBytes());
      MountTracker t = trackers.get(a.record().mountpoint());
      ObjectNode m = arr.addObject()
          .put("reference", a.record().reference())
          .put("digest", a.record().digest())
          .put("mountpoint", a.record().mountpoint())
          .put("files", a.model().artifact().files().size())
          .put("totalBytes", total)
          .put("cachedBytes", cached)
          .put("cachedPercent", total == 0 ? 100.0 : round1(100.0 * cached / total))
          .put("bytesRead", a.model().bytesRead())
          .put("fetchRateBytesPerSec", t == null ? 0 : Math.round(t.fetchRate.perSecond()))
          .put("readErrors", t == null ? 0 : t.errors())
          .put("signature", a.signature())
          .put("verification", a.model().verification())
          .put("survivesRestart", survives.test(a.record().mountpoint()))
          .put("transport", a.fuse() == null ? null : a.fuse().transport());
      if (t != null && t.lastError() != null) {
        m.put("lastError", t.lastError());
      }
      io.modelcache.fetch.MountPrefetcher pf = a.model().prefetcher();
      if (pf != null) {
        m.put("profile", pf.profileState()).put("fill", pf.fillState());
      }
    }
    ArrayNode w = out.putArray("warming");
    for (WarmJob j : jobs()) {
      if (j.state() == WarmJob.State.RUNNING) {
        w.add(j.progress());
      }
    }
    return out;
  }

  private static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }

  // ---------------------------------------------------------------- warm and progress

  private ObjectNode warm(JsonNode req) throws IOException {
    WarmJob job;
    long id = jobIds.incrementAndGet();
    if (req.hasNonNull("dir")) {
      ActiveMount a = mountAt(Path.of(req.get("dir").asText()));
      List<WarmJob.Target> targets = new ArrayList<>();
      for (Map.Entry<String, ModelMount.MountedFile> e : new TreeMap<>(a.model().files()).entrySet()) {
        targets.add(new WarmJob.Target(e.getKey(), e.getValue().file().size(), e.getValue().handle()));
      }
      MountTracker t = trackers.get(a.record().mountpoint());
      job = new WarmJob(id, a.record().reference(), a.record().digest(), a.record().mountpoint(), targets, cache,
          t != null ? t.fetchRate : new RateWindow(nanos), nanos, () -> {});
    } else {
      job = warmUnmounted(id, req.path("ref").asText(""),
          req.hasNonNull("plainHttp") ? req.get("plainHttp").asBoolean() : null);
    }
    synchronized (jobs) {
      jobs.put(id, job);
      while (jobs.size() > KEEP_JOBS) {
        Long oldest = jobs.keySet().stream().filter(k -> jobs.get(k).state() != WarmJob.State.RUNNING)
            .findFirst().orElse(null);
        if (oldest == null) {
          break;
        }
        jobs.remove(oldest);
      }
    }
    job.start(WARM_PARALLEL);
    return job.progress();
  }

  /** Resolves the model now (so a bad reference fails the request itself), then warms it in the background. */
  private WarmJob warmUnmounted(long id, String refText, Boolean plainHttp) throws IOException {
    Reference ref = Reference.parse(refText);
    ResilientSource source = new ResilientSource(Artifacts.openSource(ref,
        config.registryOptions().withPlainHttp(plainHttp), config.settings().registries()),
        ResilientSource.Policy.of(config.settings().fetchTimeout()));
    List<BlobHandle> opened = new ArrayList<>();
    try {
      TrustGate.Admission admission = TrustGate.admit(source, ref, ref.tagOrDigest(), refText,
          config.settings().trustPolicy());
      ModelArtifact art = source.again(() -> ModelReader.read(source, admission.target(ref.tagOrDigest())));
      Map<String, Long> sizes = new HashMap<>();
      for (ModelFile f : art.files()) {
        sizes.put(ModelMount.specOf(f).key(), f.size());
      }
      long need = sizes.values().stream().mapToLong(Long::longValue).sum();
      if (need > cache.budgetBytes()) {
        throw new ModelCacheException(Kind.USAGE, "cannot warm " + refText + ": the model's " + need
            + " bytes do not fit in the cache budget of " + cache.budgetBytes() + " bytes");
      }
      RateWindow rate = new RateWindow(nanos);
      String label = ref.isLayout() ? "oci-layout" : ref.registry();
      LongConsumer meter = n -> {
        rate.add(n);
        metrics.fetched(label, n);
      };
      List<WarmJob.Target> targets = new ArrayList<>();
      for (ModelFile f : art.files()) {
        BlobHandle h = cache.open(ModelMount.specOf(f),
            (off, len) -> new Counting(source.openBlob(f.layer().digest(), off, len), meter));
        opened.add(h);
        targets.add(new WarmJob.Target(f.path(), f.size(), h));
      }
      return new WarmJob(id, refText, art.manifest().digest().toString(), null, targets, cache, rate, nanos,
          () -> closeAll(opened, source));
    } catch (IOException | RuntimeException e) {
      closeAll(opened, source);
      throw e;
    }
  }

  private static void closeAll(List<BlobHandle> handles, ArtifactSource source) {
    for (BlobHandle h : handles) {
      h.close();
    }
    try {
      source.close();
    } catch (IOException ignored) {
      // Closing a registry client only releases connections.
    }
  }

  /** Counts upstream bytes as they arrive. */
  private static final class Counting extends FilterInputStream {
    private final LongConsumer meter;

    Counting(InputStream in, LongConsumer meter) {
      super(in);
      this.meter = meter;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        meter.accept(1);
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        meter.accept(n);
      }
      return n;
    }
  }

  private ObjectNode progress(long id) throws ModelCacheException {
    WarmJob j;
    synchronized (jobs) {
      j = jobs.get(id);
    }
    if (j == null) {
      throw ModelCacheException.notFound("no warm job " + id + " (the daemon may have restarted)");
    }
    return j.progress();
  }

  private List<WarmJob> jobs() {
    synchronized (jobs) {
      return List.copyOf(jobs.values());
    }
  }

  private ActiveMount mountAt(Path dir) throws ModelCacheException {
    String mp = dir.toAbsolutePath().normalize().toString();
    for (ActiveMount a : mounts.get()) {
      if (a.record().mountpoint().equals(mp)) {
        return a;
      }
    }
    String real = Mountpoint.real(dir).toString(); // only now: a stat of a mount reaches the mount
    for (ActiveMount a : mounts.get()) {
      if (a.record().mountpoint().equals(real)) {
        return a; // named through a link
      }
    }
    throw new ModelCacheException(Kind.USAGE, mp + " is not a ModelCache mount");
  }

  /** Cache keys in use, each with the models using it ("reference at mountpoint", or "warming reference"). */
  Map<String, Set<String>> users() {
    Map<String, Set<String>> out = new HashMap<>();
    for (ActiveMount a : mounts.get()) {
      for (ModelMount.MountedFile f : a.model().files().values()) {
        out.computeIfAbsent(f.handle().spec().key(), k -> new LinkedHashSet<>())
            .add(a.record().reference() + " at " + a.record().mountpoint());
      }
    }
    for (WarmJob j : jobs()) {
      if (j.state() == WarmJob.State.RUNNING) {
        for (String k : j.keys()) {
          out.computeIfAbsent(k, x -> new LinkedHashSet<>()).add("warming " + j.reference);
        }
      }
    }
    return out;
  }
}
