package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.config.Sizes;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 4's operator commands against a real daemon, a real docker-registry and real FUSE mounts:
 * {@code status}, {@code pull REF} (warm), {@code mount --wait-full}, {@code cache ls|verify|evict|gc}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OperatorIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  RegistryHarness registry;
  String refA;
  String refB;
  ModelArtifact artA;
  ModelArtifact artB;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    registry = RegistryHarness.start(tmp.resolve("registry"));
    refA = registry.hostPort() + "/models/ops-a:v1";
    refB = registry.hostPort() + "/models/ops-b:v1";
    artA = push(refA, new SyntheticModel.Spec(32L << 20, 2, "BF16", 8, 11));
    artB = push(refB, new SyntheticModel.Spec(16L << 20, 1, "BF16", 4, 12));
  }

  private ModelArtifact push(String ref, SyntheticModel.Spec spec) throws Exception {
    Path src = tmp.resolve("src-" + spec.seed());
    SyntheticModel.generate(src, spec);
    Cli.ok("push", src.toString(), ref);
    Reference r = Reference.parse(ref);
    try (RegistryClient c = RegistryClient.open(r, RegistryOptions.defaults())) {
      return ModelReader.read(c, r.tagOrDigest());
    }
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  private DaemonProcess daemon(String name) throws Exception {
    // No read-ahead: the status checks compare cached bytes with exactly what was read.
    return new DaemonProcess(tmp.resolve(name), "--chunk-size", "256K", "--cache-size", "1G",
        "--config", DaemonProcess.noPrefetchConfig(tmp)).start();
  }

  private static String home(DaemonProcess d) {
    return d.home.toString();
  }

  private static JsonNode json(Cli.Result r) throws IOException {
    return JSON.readTree(r.out());
  }

  private static Set<String> keys(ModelArtifact a) {
    Set<String> out = new TreeSet<>();
    for (ModelFile f : a.files()) {
      out.add(f.layer().digest().hex());
    }
    return out;
  }

  private static Set<String> cachedKeys(DaemonProcess d) throws Exception {
    Set<String> out = new TreeSet<>();
    for (JsonNode b : json(Cli.ok("cache", "ls", "--json", "--home", home(d))).path("blobs")) {
      out.add(b.path("key").asText());
    }
    return out;
  }

  private static JsonNode blob(JsonNode ls, String key) {
    for (JsonNode b : ls.path("blobs")) {
      if (b.path("key").asText().equals(key)) {
        return b;
      }
    }
    throw new AssertionError("blob " + key + " not listed: " + ls.toPrettyString());
  }

  private static String sha256(Path p) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate(1 << 20);
      while (ch.read(buf) >= 0) {
        md.update(buf.flip());
        buf.clear();
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  @Test
  void withoutDaemonStatusIsTheOneLineError() throws Exception {
    Path home = tmp.resolve("no-daemon");
    Cli.Result r = Cli.run(60, "status", "--home", home.toString());
    assertEquals(9, r.exit());
    assertEquals("modelcache: no daemon is running (no control socket at " + home.resolve("modelcache.sock")
        + "); start one with 'modelcache daemon --home " + home + "' or 'systemctl start modelcache'", r.errLine());
  }

  @Test
  void statusAndCacheLsMatchWhatWasReadAndEvictIsRefusedWhileMounted() throws Exception {
    try (DaemonProcess d = daemon("home-status")) {
      JsonNode s0 = json(Cli.ok("status", "--json", "--home", home(d)));
      assertEquals(d.pid(), s0.path("pid").asLong());
      assertEquals(home(d), s0.path("home").asText());
      assertEquals("127.0.0.1:" + d.metricsPort(), s0.path("metricsAddress").asText());
      assertEquals(0, s0.path("cache").path("usedBytes").asLong());
      assertEquals(1L << 30, s0.path("cache").path("budgetBytes").asLong());
      assertEquals(0, s0.path("mounts").size());

      Path mp = Files.createDirectories(tmp.resolve("mnt-status"));
      Cli.ok("mount", "--home", home(d), refA, mp.toString());
      ModelFile big = artA.files().stream().max(Comparator.comparingLong(ModelFile::size)).orElseThrow();
      sha256(mp.resolve(big.path()));

      JsonNode s = json(Cli.ok("status", "--json", "--home", home(d)));
      JsonNode m = s.path("mounts").get(0);
      assertEquals(refA, m.path("reference").asText());
      assertEquals(artA.manifest().digest().toString(), m.path("digest").asText());
      assertEquals(mp.toString(), m.path("mountpoint").asText());
      assertEquals(artA.totalBytes(), m.path("totalBytes").asLong());
      // Exactly the one file read is cached: no other blob was touched.
      assertEquals(big.size(), m.path("cachedBytes").asLong());
      assertEquals(Math.round(1000.0 * big.size() / artA.totalBytes()) / 10.0, m.path("cachedPercent").asDouble());
      assertEquals(big.size(), m.path("bytesRead").asLong());
      assertEquals(0, m.path("readErrors").asLong());
      assertFalse(m.has("lastError"));
      assertEquals(big.size(), s.path("cache").path("usedBytes").asLong());
      // Misses count chunk lookups, and the kernel may ask for a missing chunk more than once. The
      // model has a chunk index: one miss fetches the whole 4 MiB index chunk (16 cache chunks), and
      // a lookup of one of those that arrived before the reader asked is a hit.
      long cacheChunks = (big.size() + (256 << 10) - 1) / (256 << 10);
      long indexChunks = (big.size() + ChunkIndex.DEFAULT_CHUNK_SIZE - 1) / ChunkIndex.DEFAULT_CHUNK_SIZE;
      long misses = s.path("cache").path("misses").asLong();
      assertTrue(misses >= indexChunks, s.toString());
      assertTrue(misses + s.path("cache").path("hits").asLong() >= cacheChunks, s.toString());

      String text = Cli.ok("status", "--home", home(d)).out();
      assertTrue(text.startsWith("daemon:   pid " + d.pid() + ", up "), text);
      String version = Cli.ok("--version").out().lines().findFirst().orElseThrow(); // modelcache V (commit C, ...)
      String v = version.substring("modelcache ".length(), version.indexOf(" (commit "));
      assertTrue(text.lines().findFirst().orElseThrow().contains(", version " + v + " (commit "), text + "\n" + version);
      assertTrue(text.contains("\nhome:     " + home(d) + "\n"), text);
      assertTrue(text.contains("\nmounts:   1\n"), text);
      String pct = String.format(Locale.ROOT, "%.1f%%", 100.0 * big.size() / artA.totalBytes());
      assertTrue(text.lines().anyMatch(l -> l.startsWith("  " + refA) && l.contains(pct) && l.endsWith(mp.toString())),
          text);

      JsonNode ls = json(Cli.ok("cache", "ls", "--json", "--home", home(d)));
      JsonNode b = blob(ls, big.layer().digest().hex());
      assertEquals(big.size(), b.path("sizeBytes").asLong());
      assertEquals(big.size(), b.path("cachedBytes").asLong());
      assertEquals(refA + " at " + mp, b.path("models").get(0).asText());
      String lsText = Cli.ok("cache", "ls", "--home", home(d)).out();
      assertTrue(lsText.contains(big.layer().digest().toString().substring(0, 19)), lsText);

      Cli.Result refused = Cli.run(60, "cache", "evict", "--home", home(d), refA);
      assertEquals(2, refused.exit());
      assertEquals("modelcache: cannot evict " + refA + ": it is mounted at " + mp + " (unmount it first)",
          refused.errLine());

      Cli.ok("umount", "--home", home(d), mp.toString());
      Cli.Result ev = Cli.ok("cache", "evict", "--home", home(d), refA);
      assertTrue(ev.out().contains("freed " + Sizes.format(big.size())), ev.out());
      assertEquals(Set.of(), cachedKeys(d));
      assertTrue(Cli.ok("cache", "ls", "--home", home(d)).out().contains("\n0 blobs, 0 B of 1.0 GiB used"));
    }
  }

  @Test
  void pullWarmsTheCacheSoAMountNeedsNoRegistryBytesAndVerifyFindsCorruption() throws Exception {
    try (DaemonProcess d = daemon("home-pull")) {
      Cli.Result pull = Cli.ok("pull", "--home", home(d), refB);
      List<String> lines = pull.out().lines().toList();
      assertFalse(pull.out().contains("\r"), pull.out());
      assertTrue(lines.get(0).startsWith("pull " + refB + ": "), pull.out());
      assertTrue(lines.get(lines.size() - 1).startsWith("cached " + refB + " (" + artB.manifest().digest() + "): "
          + artB.files().size() + " files, 16."), pull.out());

      // Every layer was served once; wait (bounded) for the registry's access log to show it all.
      long layers = artB.files().stream().mapToLong(f -> f.layer().size()).sum();
      long before = 0;
      for (int i = 0; i < 50 && (before = served(artB)) < layers; i++) {
        Thread.sleep(100);
      }
      assertEquals(layers, before);
      for (JsonNode b : json(Cli.ok("cache", "ls", "--json", "--home", home(d))).path("blobs")) {
        assertEquals("COMPLETE", b.path("state").asText(), b.toString());
        assertEquals(b.path("sizeBytes").asLong(), b.path("cachedBytes").asLong());
      }
      assertEquals(keys(artB), cachedKeys(d));

      Path mp = Files.createDirectories(tmp.resolve("mnt-pull"));
      Cli.ok("mount", "--home", home(d), refB, mp.toString());
      Path src = tmp.resolve("src-12");
      for (ModelFile f : artB.files()) {
        assertEquals(sha256(src.resolve(f.path())), sha256(mp.resolve(f.path())), f.path());
      }
      JsonNode m = json(Cli.ok("status", "--json", "--home", home(d))).path("mounts").get(0);
      assertEquals(100.0, m.path("cachedPercent").asDouble());
      Thread.sleep(300);
      assertEquals(before, served(artB), "a mount of a warmed model fetched from the registry");
      Cli.ok("umount", "--home", home(d), mp.toString());

      Cli.Result ok = Cli.ok("cache", "verify", "--home", home(d), "--timeout", "10m");
      assertTrue(ok.out().endsWith(artB.files().size() + " blobs checked, 0 failed\n"), ok.out());
      Cli.Result zero = Cli.run(60, "cache", "verify", "--home", home(d), "--timeout", "0");
      assertEquals(2, zero.exit());
      assertEquals("modelcache: invalid --timeout '0': must be longer than 0 (e.g. 30s)", zero.errLine());

      ModelFile big = artB.files().stream().max(Comparator.comparingLong(ModelFile::size)).orElseThrow();
      Path file = d.home.resolve("cache/blobs/" + big.layer().digest().hex());
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        ByteBuffer one = ByteBuffer.allocate(1);
        ch.read(one, 300_000);
        one.put(0, (byte) (one.get(0) ^ 0x5a)).rewind();
        ch.write(one, 300_000);
      }
      Cli.Result bad = Cli.run(60, "cache", "verify", "--home", home(d), refB);
      assertEquals(8, bad.exit(), bad.out() + bad.err());
      assertEquals("modelcache: 1 of " + artB.files().size() + " cached blobs failed verification", bad.errLine());
      String row = bad.out().lines().filter(l -> l.startsWith("FAILED")).findFirst().orElseThrow();
      assertTrue(row.contains(big.layer().digest().toString().substring(0, 19)) && row.contains("INCOMPLETE")
          && row.contains("dropped 1 corrupt chunk(s)"), row);
      // What an operator's alert sees: the damaged chunk, counted, in the metrics and in status.
      assertEquals(1.0, Scrape.of(d.metricsPort()).value("modelcache_cache_corrupt_chunks_total"));
      assertEquals(1, json(Cli.ok("status", "--json", "--home", home(d))).path("cache").path("corruptChunks").asLong());
      assertTrue(Cli.ok("status", "--home", home(d)).out()
          .contains("1 cached chunk(s) found damaged on disk and dropped (fetched again when read)"));
    }
  }

  private long served(ModelArtifact a) {
    long sum = 0;
    for (Digest dg : new LinkedHashSet<>(a.files().stream().map(f -> f.layer().digest()).toList())) {
      sum += registry.blobBytesServed(dg);
    }
    return sum;
  }

  @Test
  void mountWaitFullReachesFullAndGcDropsOnlyUnreferencedBlobs() throws Exception {
    try (DaemonProcess d = daemon("home-gc")) {
      Cli.ok("pull", "--home", home(d), refB);
      Path mp = Files.createDirectories(tmp.resolve("mnt-gc"));
      Cli.Result r = Cli.ok("mount", "--wait-full", "--home", home(d), refA, mp.toString());
      List<String> lines = r.out().lines().toList();
      assertFalse(r.out().contains("\r"), r.out());
      assertTrue(lines.get(0).startsWith("mounted " + refA + " ("), r.out());
      assertTrue(lines.get(1).startsWith("mount " + refA + ": "), r.out());
      assertTrue(lines.get(lines.size() - 1).startsWith(refA + " at " + mp + " is 100% cached: "
          + artA.files().size() + " files, 32.0 MiB, verified"), r.out());
      JsonNode m = json(Cli.ok("status", "--json", "--home", home(d))).path("mounts").get(0);
      assertEquals(100.0, m.path("cachedPercent").asDouble());
      assertEquals(artA.totalBytes(), m.path("cachedBytes").asLong());

      Set<String> all = new TreeSet<>(keys(artA));
      all.addAll(keys(artB));
      assertEquals(all, cachedKeys(d));
      JsonNode gc = json(Cli.ok("cache", "gc", "--json", "--home", home(d)));
      Set<String> evicted = new TreeSet<>();
      gc.path("evicted").forEach(b -> evicted.add(b.path("key").asText()));
      Set<String> onlyB = new TreeSet<>(keys(artB));
      onlyB.removeAll(keys(artA));
      assertEquals(onlyB, evicted);
      assertEquals(keys(artA), cachedKeys(d));
      for (ModelFile f : artA.files()) {
        assertEquals(sha256(tmp.resolve("src-11").resolve(f.path())), sha256(mp.resolve(f.path())), f.path());
      }
      Cli.ok("umount", "--home", home(d), mp.toString());
      // A blob by the short digest 'cache ls' prints (sha256: and 12 hex digits), and one that is not there.
      ModelFile first = artA.files().get(0);
      String shortDigest = first.layer().digest().toString().substring(0, 19);
      Cli.Result ev = Cli.ok("cache", "evict", "--home", home(d), shortDigest);
      assertTrue(ev.out().startsWith("evicted " + shortDigest), ev.out());
      assertFalse(cachedKeys(d).contains(first.layer().digest().hex()), ev.out());
      Cli.Result none = Cli.run(60, "cache", "evict", "--home", home(d), "sha256:000000000000");
      assertEquals(3, none.exit(), none.err());
      assertEquals("modelcache: no cached blob matches sha256:000000000000 (see 'modelcache cache ls')", none.errLine());
    }
  }

  @Test
  void pullOfAnUnknownTagFailsWithOneLine() throws Exception {
    try (DaemonProcess d = daemon("home-missing")) {
      String ref = registry.hostPort() + "/models/ops-a:nope";
      Cli.Result r = Cli.run(60, "pull", "--home", home(d), ref);
      assertTrue(r.exit() != 0);
      assertEquals(1, r.errLine().lines().count(), r.err());
      assertTrue(r.errLine().startsWith("modelcache: ") && r.errLine().contains("nope"), r.errLine());
    }
  }
}
