package io.modelcache.fetch;

import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SafetensorsHeader;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a regular test: time to read every tensor of a model in loader order (128 KiB reads, one
 * thread, as FUSE delivers them) from a cold cache, with read-ahead off, on, on with a learned
 * profile, and on with background fill, next to streaming every blob whole (the link's limit), all
 * in the same run. Printed, never asserted. Run with
 * {@code -Dit.test=ReadAheadBenchIT -Dmodelcache.bench=true} (size: {@code -Dmodelcache.bench.mb}).
 */
@EnabledIfSystemProperty(named = "modelcache.bench", matches = "true")
class ReadAheadBenchIT {
  @TempDir Path tmp;
  int caches;

  @Test
  void loaderOrderReadFromColdCache() throws Exception {
    long mb = Long.getLong("modelcache.bench.mb", 512);
    int rounds = Integer.getInteger("modelcache.bench.rounds", 3);
    try (RegistryHarness registry = RegistryHarness.start(tmp.resolve("registry"))) {
      Path src = tmp.resolve("model");
      SyntheticModel.generate(src, new SyntheticModel.Spec(mb << 20, 4, "BF16", 16, 3));
      Reference ref = Reference.parse(registry.hostPort() + "/bench/model:v1");
      try (RegistryClient client = RegistryClient.open(ref, RegistryOptions.defaults())) {
        ModelPusher.push(src, client, "v1", PushOptions.defaults());
        ModelArtifact art = ModelReader.read(client, "v1");
        Map<String, SafetensorsHeader> headers = new LinkedHashMap<>();
        long tensorBytes = 0;
        for (ModelFile f : art.files()) {
          if (f.path().endsWith(".safetensors")) {
            SafetensorsHeader h = SafetensorsHeader.parse(Files.readAllBytes(src.resolve(f.path())));
            headers.put(f.path(), h);
            tensorBytes += f.size();
          }
        }
        Path profiles = tmp.resolve("profiles");
        Map<String, List<Double>> results = new LinkedHashMap<>();
        for (int round = 0; round < rounds; round++) {
          time(results, "stream every blob whole (limit)", () -> {
            byte[] buf = new byte[1 << 20];
            for (ModelFile f : art.files()) {
              try (InputStream in = client.openBlob(f.layer().digest(), 0, -1)) {
                while (in.read(buf) > 0) {
                  // drain
                }
              }
            }
          });
          time(results, "stream in 16 MiB ranged GETs, one at a time", () -> {
            byte[] buf = new byte[1 << 20];
            for (ModelFile f : art.files()) {
              long size = f.layer().size();
              for (long off = 0; off < size; off += 16 << 20) {
                try (InputStream in = client.openBlob(f.layer().digest(), off, Math.min(16 << 20, size - off))) {
                  while (in.read(buf) > 0) {
                    // drain
                  }
                }
              }
            }
          });
          time(results, "stream + sha256 (what the cache verifies)", () -> {
            byte[] buf = new byte[1 << 20];
            for (ModelFile f : art.files()) {
              java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
              try (InputStream in = client.openBlob(f.layer().digest(), 0, -1)) {
                int n;
                while ((n = in.read(buf)) > 0) {
                  md.update(buf, 0, n);
                }
              }
            }
          });
          time(results, "read-ahead off", () -> readAll(client, art, headers, ReadAheadOptions.off()));
          if (round == 0) {
            // learns the profile (first touches in loader order)
            readAll(client, art, headers, ReadAheadOptions.defaults().withBackgroundFill(false).withProfileDir(profiles));
          }
          time(results, "read-ahead (plan)", () ->
              readAll(client, art, headers, ReadAheadOptions.defaults().withBackgroundFill(false)));
          time(results, "read-ahead + profile", () ->
              readAll(client, art, headers, ReadAheadOptions.defaults().withBackgroundFill(false).withProfileDir(profiles)));
          time(results, "read-ahead + fill", () -> readAll(client, art, headers, ReadAheadOptions.defaults()));
        }
        System.out.printf("%n== loader-order read of %d MiB of tensors (%d MiB artifact), cold cache, 4 MiB chunks, median of %d%n",
            tensorBytes >> 20, art.totalBytes() >> 20, rounds);
        for (Map.Entry<String, List<Double>> e : results.entrySet()) {
          List<Double> v = new ArrayList<>(e.getValue());
          v.sort(null);
          double med = v.get(v.size() / 2);
          long bytes = e.getKey().startsWith("stream") ? art.totalBytes() : tensorBytes;
          System.out.printf("%-42s %7.3f s  %7.1f MB/s   runs %s%n", e.getKey(), med, bytes / med / 1e6, v);
        }
      }
    }
  }

  static final java.util.concurrent.atomic.AtomicLong FETCHED = new java.util.concurrent.atomic.AtomicLong();
  static final java.util.concurrent.atomic.AtomicLong REQUESTS = new java.util.concurrent.atomic.AtomicLong();
  static final java.util.concurrent.atomic.AtomicLong REQUEST_NANOS = new java.util.concurrent.atomic.AtomicLong();

  interface Job {
    void run() throws Exception;
  }

  private static void time(Map<String, List<Double>> out, String name, Job j) throws Exception {
    String only = System.getProperty("modelcache.bench.only", "");
    if (!name.contains(only)) {
      return;
    }
    FETCHED.set(0);
    REQUESTS.set(0);
    REQUEST_NANOS.set(0);
    long t0 = System.nanoTime();
    j.run();
    double secs = (System.nanoTime() - t0) / 1e9;
    out.computeIfAbsent(name, k -> new ArrayList<>()).add(secs);
    if (REQUESTS.get() > 0) {
      System.out.printf("  %-40s %.3f s: %d requests, %.1f MiB each, %.1f ms each, %.0f MB/s per request%n", name, secs,
          REQUESTS.get(), FETCHED.get() / (double) REQUESTS.get() / (1 << 20), REQUEST_NANOS.get() / 1e6 / REQUESTS.get(),
          FETCHED.get() / (REQUEST_NANOS.get() / 1e9) / 1e6);
    }
  }

  private void readAll(RegistryClient client, ModelArtifact art, Map<String, SafetensorsHeader> headers,
      ReadAheadOptions opts) throws Exception {
    try (ChunkCache cache = ChunkCache.open(CacheConfig.defaults(tmp.resolve("cache-" + (caches++)))
            .withBudgetBytes(8L << 30).withFetchTimeout(Duration.ofSeconds(30)));
        ModelMount m = new ModelMount(art, client, cache, new ModelMount.FetchObserver() {
          @Override
          public void fetched(long bytes) {
            FETCHED.addAndGet(bytes);
          }

          @Override
          public void fetchCompleted(long nanos) {
            REQUESTS.incrementAndGet();
            REQUEST_NANOS.addAndGet(nanos);
          }
        }, opts)) {
      ByteBuffer buf = ByteBuffer.allocateDirect(128 << 10);
      for (Map.Entry<String, SafetensorsHeader> e : headers.entrySet()) {
        try (ReadOnlyTree.FileReader r = m.open("/" + e.getKey())) {
          buf.clear().limit(8);
          r.read(0, buf);
          read(r, buf, 8, e.getValue().dataStart());
          for (SafetensorsHeader.Tensor t : e.getValue().loaderOrder()) {
            read(r, buf, t.fileBegin(), t.fileEnd());
          }
        }
      }
    }
  }

  private static void read(ReadOnlyTree.FileReader r, ByteBuffer buf, long from, long to) throws Exception {
    for (long off = from; off < to; off += buf.capacity()) {
      buf.clear().limit((int) Math.min(buf.capacity(), to - off));
      if (r.read(off, buf) <= 0) {
        throw new IllegalStateException("short read at " + off);
      }
    }
  }
}
