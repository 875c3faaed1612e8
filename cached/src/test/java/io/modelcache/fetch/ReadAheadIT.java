package io.modelcache.fetch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SafetensorsHeader;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.AccessLogEntry;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Read-ahead against a real docker-registry on 127.0.0.1, driving {@link ModelMount}'s tree
 * directly (no FUSE): header-first planning, background fill with large ranged GETs, on-demand reads
 * during a fill, and exact bytes everywhere. No timing assertions; every wait is bounded.
 */
class ReadAheadIT {
  static final int CHUNK = 1 << 20;
  static final long MODEL_BYTES = 64L << 20;
  static final long FILL_REQUEST = 16L << 20;

  @TempDir static Path tmp;
  static RegistryHarness registry;
  static RegistryClient client;
  static ModelArtifact artifact;
  static Path source;
  static final Map<String, byte[]> sourceBytes = new TreeMap<>();
  static int caches;

  @BeforeAll
  static void setUp() throws Exception {
    registry = RegistryHarness.start(tmp.resolve("registry"));
    source = tmp.resolve("model");
    SyntheticModel.generate(source, new SyntheticModel.Spec(MODEL_BYTES, 3, "BF16", 6, 11));
    // A shard-like file whose header is junk: it must still read back exactly.
    byte[] junk = new byte[3 * CHUNK + 123];
    new Random(5).nextBytes(junk);
    junk[7] = 0x7f; // header length far over the limit
    Files.write(source.resolve("broken.safetensors"), junk);
    try (Stream<Path> s = Files.walk(source)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        sourceBytes.put(source.relativize(p).toString(), Files.readAllBytes(p));
      }
    }
    Reference ref = Reference.parse(registry.hostPort() + "/models/readahead:v1");
    client = RegistryClient.open(ref, RegistryOptions.defaults());
    ModelPusher.push(source, client, "v1", PushOptions.defaults());
    artifact = ModelReader.read(client, "v1");
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (client != null) {
      client.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  static ChunkCache newCache(long budget) throws IOException {
    return ChunkCache.open(CacheConfig.defaults(tmp.resolve("cache-" + (caches++)))
        .withChunkSize(CHUNK).withBudgetBytes(budget).withFetchTimeout(Duration.ofSeconds(20)));
  }

  static ReadAheadOptions options() {
    return ReadAheadOptions.defaults().withFill(FILL_REQUEST, 2, 0.9);
  }

  static String sha(byte[] b) throws Exception {
    return HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
  }

  static byte[] readRange(ReadOnlyTree.FileReader r, long off, int len) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(len);
    while (b.hasRemaining()) {
      int n = r.read(off + b.position(), b);
      if (n <= 0) {
        break;
      }
    }
    return java.util.Arrays.copyOf(b.array(), b.position());
  }

  /** Adds the bytes read-ahead and fill issued, and the prefetched bytes readers used. */
  static PrefetchObserver counting(AtomicLong issued, AtomicLong used) {
    return new PrefetchObserver() {
      @Override
      public void issued(long bytes) {
        issued.addAndGet(bytes);
      }

      @Override
      public void used(long bytes) {
        used.addAndGet(bytes);
      }
    };
  }

  static void waitUntil(String what, long timeoutMs, java.util.function.BooleanSupplier cond) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  Set<String> layerPaths() {
    return artifact.files().stream().map(f -> "/blobs/" + f.layer().digest()).collect(Collectors.toSet());
  }

  List<AccessLogEntry> blobGets(int from) {
    List<AccessLogEntry> all = registry.accessLog();
    Set<String> layers = layerPaths();
    List<AccessLogEntry> out = new ArrayList<>();
    for (AccessLogEntry e : all.subList(Math.min(from, all.size()), all.size())) {
      String p = e.uri();
      if (e.method().equals("GET") && layers.stream().anyMatch(p::endsWith)) {
        out.add(e);
      }
    }
    return out;
  }

  @Test
  void openingAShardFetchesItsHeaderAtOnceAndThePlanFollowsLoaderOrder() throws Exception {
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE,
            options().withBackgroundFill(false))) {
      String shard = SyntheticModel.shardName(1, 3);
      try (ReadOnlyTree.FileReader r = m.open("/" + shard)) {
        // no read at all: the open alone brings the header in
        SafetensorsHeader h = m.prefetcher().header(shard).get(20, TimeUnit.SECONDS);
        assertNotNull(h);
        assertEquals(SafetensorsHeader.parse(sourceBytes.get(shard)).tensors(), h.tensors());
        assertTrue(m.files().get("/" + shard).handle().isCached(0, h.dataStart()));
        ReadPlan plan = m.prefetcher().plan().get(20, TimeUnit.SECONDS);

        // tensors in plan order: embeddings, layers 0..N, the rest, lm_head, across all shards
        List<long[]> keys = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Map<String, SafetensorsHeader> headers = new TreeMap<>();
        for (String p : sourceBytes.keySet()) {
          if (p.startsWith("model-")) {
            headers.put(p, SafetensorsHeader.parse(sourceBytes.get(p)));
          }
        }
        for (ReadPlan.Segment s : plan.segments()) {
          SafetensorsHeader sh = headers.get(s.path());
          if (sh == null) {
            continue;
          }
          sh.tensors().stream().filter(t -> t.fileBegin() >= s.begin() && t.fileBegin() < s.end())
              .sorted((a, b) -> Long.compare(a.fileBegin(), b.fileBegin()))
              .forEach(t -> {
                names.add(t.name());
                keys.add(new long[] {ReadPlanner.rank(t.name()), ReadPlanner.layerOf(t.name())});
              });
        }
        assertEquals(headers.values().stream().mapToInt(x -> x.tensors().size()).sum(), names.size());
        assertTrue(names.get(0).contains("embed"), names.get(0));
        assertTrue(names.get(names.size() - 1).startsWith("lm_head"), names.get(names.size() - 1));
        for (int i = 1; i < keys.size(); i++) {
          long[] a = keys.get(i - 1);
          long[] b = keys.get(i);
          assertTrue(a[0] < b[0] || (a[0] == b[0] && a[1] <= b[1]), names.get(i - 1) + " before " + names.get(i));
        }
        // every byte of every file is planned exactly once; the junk file only as plain bytes
        assertEquals(artifact.totalBytes(), plan.totalBytes());
        assertFalse(plan.tensorLevel("broken.safetensors"));
        assertNull(m.prefetcher().header("broken.safetensors").get(20, TimeUnit.SECONDS));
      }

      // bytes stay exact: every tensor read in loader order, every other file whole
      for (Map.Entry<String, byte[]> e : sourceBytes.entrySet()) {
        byte[] want = e.getValue();
        try (ReadOnlyTree.FileReader r = m.open("/" + e.getKey())) {
          byte[] got = new byte[want.length];
          if (e.getKey().startsWith("model-")) {
            SafetensorsHeader sh = SafetensorsHeader.parse(want);
            System.arraycopy(readRange(r, 0, (int) sh.dataStart()), 0, got, 0, (int) sh.dataStart());
            for (SafetensorsHeader.Tensor t : sh.loaderOrder()) {
              for (long off = t.fileBegin(); off < t.fileEnd(); off += 128 << 10) {
                int n = (int) Math.min(128 << 10, t.fileEnd() - off);
                System.arraycopy(readRange(r, off, n), 0, got, (int) off, n);
              }
            }
          } else {
            got = readRange(r, 0, want.length);
          }
          assertEquals(sha(want), sha(got), e.getKey());
        }
      }
    }
  }

  @Test
  void backgroundFillCachesTheWholeModelWithFewLargeRangedGets() throws Exception {
    int logStart = registry.accessLog().size();
    AtomicLong issued = new AtomicLong();
    AtomicLong used = new AtomicLong();
    PrefetchObserver obs = counting(issued, used);
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE,
            options().withPrefetch(false).withObserver(obs))) {
      waitUntil("the fill to cache the whole model", 45_000, () -> m.cachedFraction() >= 1.0);
      assertEquals(1.0, m.cachedFraction());
      assertEquals(0, m.bytesRead());
      waitUntil("the fill to finish", 10_000, () -> m.prefetcher().fillState().equals("done"));
      // everything but the headers and the shard index (read on demand to build the plan) came by fill
      assertTrue(issued.get() <= artifact.totalBytes()
          && issued.get() >= artifact.totalBytes() - (long) sourceBytes.size() * CHUNK, "issued " + issued.get());

      List<AccessLogEntry> gets = blobGets(logStart);
      long served = gets.stream().mapToLong(AccessLogEntry::written).sum();
      long max = gets.stream().mapToLong(AccessLogEntry::written).max().orElse(0);
      int files = artifact.files().size();
      // one request per file, plus one per FILL_REQUEST of each big file, plus the header reads
      long bound = files + artifact.totalBytes() / FILL_REQUEST + 4 + 4;
      assertTrue(gets.size() <= bound, gets.size() + " blob GETs for " + artifact.totalBytes() + " bytes (bound " + bound + ")");
      assertTrue(max >= FILL_REQUEST, "largest ranged GET " + max);
      assertTrue(served <= artifact.totalBytes() + 4L * CHUNK, "served " + served);

      // reads now all hit, and every prefetched byte read counts as used
      long missesBefore = cache.stats().misses();
      for (Map.Entry<String, byte[]> e : sourceBytes.entrySet()) {
        try (ReadOnlyTree.FileReader r = m.open("/" + e.getKey())) {
          assertEquals(sha(e.getValue()), sha(readRange(r, 0, e.getValue().length)), e.getKey());
        }
      }
      assertEquals(missesBefore, cache.stats().misses(), "no fetch after the fill");
      assertEquals(issued.get(), used.get());
    }
  }

  @Test
  void aHeldFillIssuesNothingUntilTheMountAnswersThenCachesTheModel() throws Exception {
    AtomicLong issued = new AtomicLong();
    PrefetchObserver obs = counting(issued, new AtomicLong());
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = ModelMount.withReadAheadDeferred(artifact, client, cache, ModelMount.FetchObserver.NONE,
            options().withObserver(obs))) {
      m.holdFillUntilAnswered();
      m.startReadAhead();
      assertTrue(m.awaitHeaders(Duration.ofSeconds(20)), "headers local");
      Thread.sleep(1_000); // the daemon's mount command is still answering: no fill request yet
      assertEquals(0, issued.get(), "fill bytes issued before the answer");
      assertEquals("idle", m.prefetcher().fillState());
      m.answered();
      waitUntil("the fill to cache the whole model", 45_000, () -> m.cachedFraction() >= 1.0);
      waitUntil("the fill to finish", 10_000, () -> m.prefetcher().fillState().equals("done"));
      assertTrue(issued.get() > 0, "the fill ran after the answer");
      for (Map.Entry<String, byte[]> e : sourceBytes.entrySet()) {
        try (ReadOnlyTree.FileReader r = m.open("/" + e.getKey())) {
          assertEquals(sha(e.getValue()), sha(readRange(r, 0, e.getValue().length)), e.getKey());
        }
      }
    }
  }

  @Test
  void onDemandReadsDuringAFillReturnExactBytes() throws Exception {
    ExecutorService readers = Executors.newFixedThreadPool(3);
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE, options())) {
      List<String> paths = new ArrayList<>(sourceBytes.keySet());
      List<Future<Integer>> jobs = new ArrayList<>();
      for (int t = 0; t < 3; t++) {
        long seed = 40 + t;
        jobs.add(readers.submit(() -> {
          Random rnd = new Random(seed);
          int checked = 0;
          for (int i = 0; i < 60; i++) {
            String p = paths.get(rnd.nextInt(paths.size()));
            byte[] want = sourceBytes.get(p);
            long off = want.length == 0 ? 0 : rnd.nextLong(want.length);
            int len = (int) Math.min(want.length - off, 1 + rnd.nextInt(3 * CHUNK));
            try (ReadOnlyTree.FileReader r = m.open("/" + p)) {
              // a short sequential run, as a loader would read a tensor
              for (int k = 0; k < 3 && off < want.length; k++) {
                byte[] got = readRange(r, off, len);
                assertArrayEquals(java.util.Arrays.copyOfRange(want, (int) off, (int) off + got.length), got,
                    p + " at " + off);
                assertEquals(Math.min(len, want.length - off), got.length);
                off += len;
                len = (int) Math.min(want.length - off, len);
                checked++;
              }
            }
          }
          return checked;
        }));
      }
      for (Future<Integer> j : jobs) {
        assertTrue(j.get(60, TimeUnit.SECONDS) > 0);
      }
      waitUntil("the fill to cache the whole model", 45_000, () -> m.cachedFraction() >= 1.0);
      for (Map.Entry<String, byte[]> e : sourceBytes.entrySet()) {
        try (ReadOnlyTree.FileReader r = m.open("/" + e.getKey())) {
          assertEquals(sha(e.getValue()), sha(readRange(r, 0, e.getValue().length)), e.getKey());
        }
      }
    } finally {
      readers.shutdownNow();
    }
  }

  @Test
  void fillStopsShortOfTheBudgetWhenTheModelDoesNotFit() throws Exception {
    long budget = 32L << 20;
    try (ChunkCache cache = newCache(budget);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE,
            options().withPrefetch(false))) {
      waitUntil("the fill to stop", 45_000, () -> Set.of("budget", "done", "failed").contains(m.prefetcher().fillState()));
      assertEquals("budget", m.prefetcher().fillState());
      assertTrue(cache.usedBytes() <= budget, "used " + cache.usedBytes());
      assertTrue(cache.stats().evictions() == 0, "fill evicted nothing");
      // the model still reads exactly (it just refetches what does not fit)
      String shard = SyntheticModel.shardName(2, 3);
      try (ReadOnlyTree.FileReader r = m.open("/" + shard)) {
        assertEquals(sha(sourceBytes.get(shard)), sha(readRange(r, 0, sourceBytes.get(shard).length)));
      }
    }
  }

  @Test
  void aLearnedProfileIsSavedAtUnmountAndReplayedOnTheNextMount() throws Exception {
    Path profiles = tmp.resolve("profiles");
    String shard = SyntheticModel.shardName(0, 3);
    byte[] want = sourceBytes.get(shard);
    SafetensorsHeader sh = SafetensorsHeader.parse(want);
    SafetensorsHeader.Tensor last = sh.loaderOrder().get(sh.loaderOrder().size() - 1);
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE,
            ReadAheadOptions.off().withProfileDir(profiles))) {
      try (ReadOnlyTree.FileReader r = m.open("/" + shard)) {
        readRange(r, 0, 8);
        readRange(r, last.fileBegin(), (int) Math.min(CHUNK, last.length()));
      }
    }
    Digest md = artifact.manifest().digest();
    AccessProfile p = AccessProfile.read(AccessProfile.pathFor(profiles, md));
    assertEquals(List.of(new AccessProfile.Entry(shard, 0),
        new AccessProfile.Entry(shard, (int) (last.fileBegin() / CHUNK))), p.entries().subList(0, 2));
    // export / import round trip
    Path exported = tmp.resolve("exported.profile");
    AccessProfile.exportTo(profiles, md, exported);
    Path other = tmp.resolve("profiles-other");
    assertEquals(md, AccessProfile.importFrom(exported, other));
    assertEquals(p, AccessProfile.read(AccessProfile.pathFor(other, md)));

    // next mount: the profile's chunks come in without any read
    try (ChunkCache cache = newCache(1L << 30);
        ModelMount m = new ModelMount(artifact, client, cache, ModelMount.FetchObserver.NONE,
            options().withBackgroundFill(false).withProfileDir(other))) {
      var h = m.files().get("/" + shard).handle();
      waitUntil("the profile replay", 20_000, () -> h.isCached(last.fileBegin(), 1) && h.isCached(0, 8));
      assertEquals(0, m.bytesRead());
    }
  }
}
