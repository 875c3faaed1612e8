package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.oci.Digest;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chunk digest index through a real registry (Debian's docker-registry 2.8: no referrers API, so
 * the referrers tag) and real mounts: pushed with the model and found, built by {@code modelcache
 * index} for a model pushed by skopeo, and a chunk corrupted in the registry's storage never served.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChunkIndexIT {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  RegistryHarness registry;

  @BeforeAll
  void start() throws Exception {
    registry = RegistryHarness.start(tmp.resolve("reg"));
  }

  @AfterAll
  void stop() {
    if (registry != null) {
      registry.close();
    }
  }

  String tags(String repo) throws Exception {
    HttpClient c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    return c.send(HttpRequest.newBuilder(URI.create("http://" + registry.hostPort() + "/v2/" + repo + "/tags/list"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  /** Mounts ref, checks every file's sha256 and the mount's verification mode, unmounts. */
  void mountAndCheck(DaemonProcess d, String ref, Map<String, String> sha, Path mp) throws Exception {
    Files.createDirectories(mp);
    Cli.ok("mount", "--home", d.home.toString(), ref, mp.toString());
    try {
      for (var e : sha.entrySet()) {
        assertEquals(e.getValue(), LazyMountIT.sha256(mp.resolve(e.getKey())), e.getKey());
      }
      JsonNode ls = JSON.readTree(Cli.ok("ls", "--home", d.home.toString(), "--json").out());
      JsonNode mine = null;
      for (JsonNode m : ls.path("mounts")) {
        if (m.path("mountpoint").asText().equals(mp.toString())) {
          mine = m;
        }
      }
      assertEquals("chunks", mine.path("verification").asText(), ls.toString());
      Scrape s = Scrape.of(d.metricsPort());
      assertEquals(1.0, s.value("modelcache_mount_verification", Map.of("mount", mp.toString(), "mode", "chunks")));
      assertEquals(0.0, s.value("modelcache_mount_verification", Map.of("mount", mp.toString(), "mode", "lazy")));
      assertEquals(0.0, s.value("modelcache_chunk_verify_failures_total"));
    } finally {
      Cli.ok("umount", "--home", d.home.toString(), mp.toString());
    }
  }

  @Test
  void pushStoresTheIndexUnderTheReferrersTagAndMountsCheckEveryChunk() throws Exception {
    Fuse.assumeAvailable();
    PushedModel pm = PushedModel.push(registry, tmp.resolve("model"), "models/indexed:v1",
        new SyntheticModel.Spec(12L << 20, 2, "BF16", 4, 5));
    Digest manifest = pm.artifact().manifest().digest();
    assertTrue(tags("models/indexed").contains("\"sha256-" + manifest.hex() + "\""), tags("models/indexed"));
    JsonNode idx = JSON.readTree(Cli.ok("inspect", pm.ref(), "--json").out()).path("chunkIndex");
    assertTrue(idx.path("accepted").asBoolean(), idx.toString());
    assertEquals("referrers tag", idx.path("via").asText());
    assertEquals(4 << 20, idx.path("chunkSize").asInt());
    // Cache chunks of 256 KiB against index chunks of 4 MiB: each index chunk is checked over 16 cache chunks.
    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--chunk-size", "256K").start()) {
      mountAndCheck(d, pm.ref(), pm.sha(), tmp.resolve("mnt"));
      assertTrue(d.log().contains("every chunk is checked before it is served"), d.log());
    }
  }

  @Test
  void aChunkCorruptedInTheRegistryIsNeverServed() throws Exception {
    Fuse.assumeAvailable();
    PushedModel pm = PushedModel.push(registry, tmp.resolve("model-c"), "models/corrupt:v1",
        new SyntheticModel.Spec(24L << 20, 2, "BF16", 4, 9));
    var weight = pm.artifact().files().stream().filter(f -> f.path().endsWith(".safetensors"))
        .max((x, y) -> Long.compare(x.size(), y.size())).orElseThrow();
    assertTrue(weight.size() > 9L << 20, "a weight of more than two index chunks: " + weight.size());
    long bad = (5L << 20) + 12_345; // in index chunk 1: [4 MiB, 8 MiB)
    Path data = registry.blobDataPath(weight.layer().digest());
    byte[] original;
    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.seek(bad);
      int b = f.read();
      f.seek(bad);
      f.write(b ^ 0x40);
    }
    original = Files.readAllBytes(pm.source().resolve(weight.path()));
    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home-c"), "--chunk-size", "1M",
        "--config", DaemonProcess.noPrefetchConfig(tmp)).start()) {
      Path mp = Files.createDirectories(tmp.resolve("mnt-c"));
      Cli.ok("mount", "--home", d.home.toString(), pm.ref(), mp.toString());
      try {
        Path file = mp.resolve(weight.path());
        IOException eio = assertThrows(IOException.class, () -> LazyMountIT.pread(file, bad - 1000, 4096));
        assertTrue(String.valueOf(eio.getMessage()).contains("Input/output error"), eio.toString());
        assertArrayEquals(Arrays.copyOfRange(original, 0, 1 << 20), LazyMountIT.pread(file, 0, 1 << 20));
        assertArrayEquals(Arrays.copyOfRange(original, 8 << 20, 9 << 20), LazyMountIT.pread(file, 8 << 20, 1 << 20),
            "the index chunk after the bad one");
        double failures = Scrape.of(d.metricsPort()).value("modelcache_chunk_verify_failures_total");
        assertTrue(failures >= 8, "bounded attempts, counted: " + failures);
        assertThrows(IOException.class, () -> LazyMountIT.pread(file, bad, 1), "the next read tries again");
        Scrape s = Scrape.of(d.metricsPort());
        assertTrue(s.value("modelcache_chunk_verify_failures_total") >= failures + 8, s.text());
        assertTrue(s.value("modelcache_chunk_refetches_total") >= 14, s.text());
        assertEquals(0.0, s.value("modelcache_chunk_index_rejected_total"), "the bytes are wrong, not the index");
      } finally {
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());
      }
    }
  }

  @Test
  void indexBuildsTheIndexOfAModelPushedBySkopeo() throws Exception {
    Fuse.assumeAvailable();
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/skopeo")), "skopeo is not installed (bash .ci/install)");
    // A layout written by modelcache push, copied to the registry by skopeo: only the model, no index.
    Path src = tmp.resolve("model-s");
    SyntheticModel.generate(src, new SyntheticModel.Spec(6L << 20, 2, "BF16", 2, 13));
    Path layout = tmp.resolve("layout-s");
    Cli.ok("push", "--tar", src.toString(), "oci:" + layout + ":v1");
    String ref = registry.hostPort() + "/models/skopeo:v1";
    Process p = new ProcessBuilder("skopeo", "copy", "--dest-tls-verify=false", "oci:" + layout + ":v1", "docker://" + ref)
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "skopeo copy: " + out);
    assertTrue(Cli.ok("inspect", ref).out().contains("Index:  none"), "skopeo copies the model alone");

    Cli.Result built = Cli.ok("index", ref);
    assertTrue(Digest.isValid(built.out().strip()), built.out());
    JsonNode idx = JSON.readTree(Cli.ok("inspect", ref, "--json").out()).path("chunkIndex");
    assertEquals(built.out().strip(), idx.path("digest").asText());
    assertTrue(idx.path("accepted").asBoolean(), idx.toString());
    Cli.Result missing = Cli.run(60, "index", registry.hostPort() + "/models/skopeo:nope");
    assertEquals(3, missing.exit());
    assertEquals("modelcache: " + registry.hostPort() + "/models/skopeo: manifest 'nope' not found", missing.errLine());

    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home-s"), "--chunk-size", "64K").start()) {
      mountAndCheck(d, ref, PushedModel.shas(src), tmp.resolve("mnt-s"));
    }
  }
}
