package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.FaultPlan;
import io.modelcache.testkit.FaultPlan.Kind;
import io.modelcache.testkit.FaultProxy;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real mounts read through a {@link FaultProxy} in front of a real docker-registry: under flipped
 * bytes, resets, 503s and truncations every byte read is exact and no read fails. Every model is read
 * whole in 1 MiB preads, each compared with the source file; wrong bytes and EIOs are counted.
 *
 * <p>Each plan's seed is chosen from the plan's own decisions so that the faults named in the test
 * certainly strike the requests that matter (the first blob GETs are the config and the index at
 * mount; the ones after them carry file bytes), whatever else the rates bring.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(300)
class FaultTolerantMountIT {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int MiB = 1 << 20;
  @TempDir static Path tmp;
  RegistryHarness registry;
  /** One daemon for every test (each reads its own model through its own proxy): counters are compared as deltas. */
  DaemonProcess daemon;

  @BeforeAll
  void start() throws Exception {
    registry = RegistryHarness.start(tmp.resolve("reg"));
    if (Files.exists(Path.of("/dev/fuse"))) {
      // strict: models without a chunk index are served only once each blob is whole and verified.
      Path cfg = Files.writeString(tmp.resolve("strict.yaml"), "verify:\n  unindexed: strict\n");
      daemon = new DaemonProcess(tmp.resolve("home"), "--chunk-size", "256K", "--config", cfg.toString()).start();
    }
  }

  @AfterAll
  void stop() throws Exception {
    try {
      if (daemon != null) {
        daemon.close();
      }
    } finally {
      if (registry != null) {
        registry.close();
      }
    }
  }

  /** What a whole read of a mounted model saw. */
  record Tally(long bytes, long wrongBytes, long eio, List<String> errors) {}

  /** Reads every file of {@code src} through {@code mp} in 1 MiB preads, counting wrong bytes and failures. */
  static Tally readAll(Path src, Path mp) throws IOException {
    long bytes = 0;
    long wrong = 0;
    long eio = 0;
    List<String> errors = new java.util.ArrayList<>();
    for (String name : files(src)) {
      byte[] want = Files.readAllBytes(src.resolve(name));
      for (long off = 0; off < want.length; off += MiB) {
        int n = (int) Math.min(MiB, want.length - off);
        try {
          byte[] got = LazyMountIT.pread(mp.resolve(name), off, n);
          for (int i = 0; i < n; i++) {
            if (got[i] != want[(int) off + i]) {
              wrong++;
            }
          }
          bytes += n;
        } catch (IOException e) {
          eio++;
          errors.add(name + "@" + off + ": " + e.getMessage());
        }
      }
    }
    return new Tally(bytes, wrong, eio, errors);
  }

  static List<String> files(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).map(p -> root.relativize(p).toString()).sorted().toList();
    }
  }

  static long totalBytes(Path root) throws IOException {
    long sum = 0;
    for (String f : files(root)) {
      sum += Files.size(root.resolve(f));
    }
    return sum;
  }

  /**
   * The first seed from 1 whose plan leaves the first {@code quiet} blob GETs alone and then decides
   * exactly {@code then}, in order: a pure function of the plan, so the test is deterministic.
   */
  static long seedFor(FaultPlan base, int quiet, Kind... then) {
    for (long seed = 1; seed < 1_000_000; seed++) {
      FaultPlan p = new FaultPlan(seed, base.resets(), base.serverErrors(), base.flips(), base.truncations(),
          base.slowStarts(), base.slowDelay(), base.applies());
      boolean ok = true;
      for (int i = 0; i < quiet + then.length && ok; i++) {
        ok = p.decide(i).kind() == (i < quiet ? Kind.NONE : then[i - quiet]);
      }
      if (ok) {
        return seed;
      }
    }
    throw new AssertionError("no seed found");
  }

  static FaultPlan reseeded(FaultPlan base, long seed) {
    return new FaultPlan(seed, base.resets(), base.serverErrors(), base.flips(), base.truncations(),
        base.slowStarts(), base.slowDelay(), base.applies());
  }

  static JsonNode mountOf(DaemonProcess d, Path mp) throws Exception {
    for (JsonNode m : JSON.readTree(Cli.ok("ls", "--home", d.home.toString(), "--json").out()).path("mounts")) {
      if (m.path("mountpoint").asText().equals(mp.toString())) {
        return m;
      }
    }
    throw new AssertionError("no mount at " + mp);
  }

  /** Mounts {@code ref} through the proxy, reads it whole, unmounts; returns the tally and the final scrape. */
  record Run(Tally tally, Scrape before, Scrape after, JsonNode mount, String status) {}

  /** Mounts {@code ref}, reads it whole, unmounts; the scrapes are from before the mount and after the read. */
  Run mountAndReadAll(String ref, Path src, String name) throws Exception {
    Path mp = Files.createDirectories(tmp.resolve("mnt-" + name));
    Scrape before = Scrape.of(daemon.metricsPort());
    Cli.ok("mount", "--home", daemon.home.toString(), ref, mp.toString());
    try {
      Tally t = readAll(src, mp);
      return new Run(t, before, Scrape.of(daemon.metricsPort()), mountOf(daemon, mp),
          Cli.ok("status", "--home", daemon.home.toString()).out());
    } finally {
      Cli.ok("umount", "--home", daemon.home.toString(), mp.toString());
    }
  }

  /** A counter's increase during the run. */
  static double delta(Run r, String name, Map<String, String> labels) {
    return r.after().value(name, labels) - r.before().value(name, labels);
  }

  static double retries(Run r, String reason) {
    return delta(r, "modelcache_fetch_retries_total", Map.of("reason", reason));
  }

  @Test
  void flippedBytesNeverReachReadersOfAModelPushedByModelcache() throws Exception {
    Fuse.assumeAvailable();
    PushedModel pm = PushedModel.push(registry, tmp.resolve("model-flip"), "models/flip:v1",
        new SyntheticModel.Spec(10L << 20, 2, "BF16", 4, 31));
    // The config's first copy is damaged (a small blob fetched at mount), then the first two chunk fetches.
    FaultPlan base = FaultPlan.seeded(0).withFlips(0.3);
    FaultPlan plan = reseeded(base, seedFor(base, 0, Kind.FLIP, Kind.NONE, Kind.NONE, Kind.FLIP, Kind.FLIP));
    try (FaultProxy proxy = FaultProxy.start(registry.hostPort(), plan)) {
      Run r = mountAndReadAll(proxy.hostPort() + "/models/flip:v1", pm.source(), "flip");
      assertEquals(totalBytes(pm.source()), r.tally().bytes(), r.tally().errors().toString());
      assertEquals(0, r.tally().wrongBytes());
      assertEquals(0, r.tally().eio(), r.tally().errors().toString());
      assertEquals("chunks", r.mount().path("verification").asText(), r.mount().toString());
      long flips = proxy.injected(Kind.FLIP);
      double chunkFailures = delta(r, "modelcache_chunk_verify_failures_total", Map.of());
      assertTrue(flips >= 3, "flips injected: " + flips + "; " + proxy.events());
      assertTrue(retries(r, "corrupt") >= 1, "the damaged config was fetched again: " + retries(r, "corrupt"));
      assertTrue(chunkFailures >= 1, "damaged chunks caught: " + chunkFailures + "; " + proxy.events());
      assertTrue(chunkFailures + retries(r, "corrupt") <= flips, chunkFailures + " chunk failures for " + flips + " flips");
    }
  }

  /** A model pushed without a chunk index (ModelPusher, as push does, index off), at models/NAME:v1. */
  Path unindexed(String name, long seed) throws Exception {
    Path src = tmp.resolve("model-" + name);
    SyntheticModel.generate(src, new SyntheticModel.Spec(8L << 20, 2, "BF16", 4, seed));
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/models/" + name + ":v1"),
        RegistryOptions.defaults().withDockerConfig(tmp.resolve("none.json")))) {
      ModelPusher.push(src, c, "v1", PushOptions.defaults().withIndexChunkSize(0));
    }
    return src;
  }

  @Test
  void anUnindexedModelUnderStrictServesNoWrongByte() throws Exception {
    Fuse.assumeAvailable();
    Path src = unindexed("strict", 47);
    FaultPlan base = FaultPlan.seeded(0).withFlips(0.3);
    FaultPlan plan = reseeded(base, seedFor(base, 1, Kind.FLIP)); // the first blob GET after the config
    try (FaultProxy proxy = FaultProxy.start(registry.hostPort(), plan)) {
      Run r = mountAndReadAll(proxy.hostPort() + "/models/strict:v1", src, "strict");
      assertEquals(0, r.tally().wrongBytes());
      assertEquals(0, r.tally().eio(), r.tally().errors().toString());
      assertEquals("strict", r.mount().path("verification").asText());
      assertTrue(r.status().contains("\n    verification: strict\n"), r.status());
      Path mp = tmp.resolve("mnt-strict");
      assertEquals(1.0, r.after().value("modelcache_mount_verification", Map.of("mount", mp.toString(), "mode", "strict")));
      assertEquals(0.0, r.after().value("modelcache_mount_verification", Map.of("mount", mp.toString(), "mode", "lazy")));
      assertTrue(proxy.injected(Kind.FLIP) >= 1, proxy.events().toString());
      assertTrue(delta(r, "modelcache_blob_refetches_total", Map.of()) >= 1,
          "a damaged blob was dropped and fetched again: " + proxy.events());
      assertTrue(delta(r, "modelcache_verify_failures_total", Map.of()) >= 1);
    }
  }

  @Test
  void resetsServerErrorsAndTruncationsNeverReachReaders() throws Exception {
    Fuse.assumeAvailable();
    Path src = unindexed("reset", 37);
    FaultPlan base = FaultPlan.seeded(0).withResets(0.2).withServerErrors(0.1).withTruncations(0.05);
    FaultPlan plan = reseeded(base, seedFor(base, 1, Kind.RESET, Kind.SERVER_ERROR, Kind.TRUNCATE, Kind.RESET));
    try (FaultProxy proxy = FaultProxy.start(registry.hostPort(), plan)) {
      Run r = mountAndReadAll(proxy.hostPort() + "/models/reset:v1", src, "reset");
      assertEquals(0, r.tally().eio(), r.tally().errors().toString());
      assertEquals(0, r.tally().wrongBytes());
      assertEquals(totalBytes(src), r.tally().bytes());
      assertEquals("strict", r.mount().path("verification").asText());
      assertTrue(proxy.injected(Kind.RESET) >= 2 && proxy.injected(Kind.SERVER_ERROR) >= 1
          && proxy.injected(Kind.TRUNCATE) >= 1, proxy.events().toString());
      assertTrue(retries(r, "server_error") >= proxy.injected(Kind.SERVER_ERROR),
          "server_error " + retries(r, "server_error") + " " + proxy.events());
      assertTrue(retries(r, "reset") + retries(r, "truncated") >= 1,
          "reset " + retries(r, "reset") + ", truncated " + retries(r, "truncated"));
      assertEquals(0.0, delta(r, "modelcache_verify_failures_total", Map.of()), "every blob verified whole");
    }
  }

  @Test
  void aModelPushedBySkopeoThenIndexedReadsExactThroughTheCorruptingProxy() throws Exception {
    Fuse.assumeAvailable();
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/skopeo")), "skopeo is not installed (bash .ci/install)");
    Path src = tmp.resolve("model-skopeo");
    SyntheticModel.generate(src, new SyntheticModel.Spec(8L << 20, 2, "BF16", 2, 41));
    Path layout = tmp.resolve("layout-skopeo");
    Cli.ok("push", "--tar", src.toString(), "oci:" + layout + ":v1");
    String direct = registry.hostPort() + "/models/skopeo-faults:v1";
    Process p = new ProcessBuilder("skopeo", "copy", "--dest-tls-verify=false", "oci:" + layout + ":v1",
        "docker://" + direct).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "skopeo copy: " + out);
    Cli.ok("index", direct);
    try (FaultProxy proxy = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(43).withFlips(0.3))) {
      Run r = mountAndReadAll(proxy.hostPort() + "/models/skopeo-faults:v1", src, "skopeo");
      assertEquals(0, r.tally().wrongBytes());
      assertEquals(0, r.tally().eio(), r.tally().errors().toString());
      assertEquals(totalBytes(src), r.tally().bytes());
      assertEquals("chunks", r.mount().path("verification").asText());
      assertTrue(proxy.injected(Kind.FLIP) >= 1, "flips injected: " + proxy.events());
    }
  }
}
