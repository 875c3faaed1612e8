package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.fetch.AccessProfile;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 5's learned profiles moved between nodes: daemon A learns the read order of a model through
 * a real FUSE mount, {@code profile export} writes it, daemon B (fresh home, another chunk size)
 * {@code profile import}s it and replays it at the next mount, before anything is read.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProfileIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CHUNK_A = 256 << 10;

  @TempDir static Path tmp;
  RegistryHarness registry;
  PushedModel model;
  String digest;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    registry = RegistryHarness.start(tmp.resolve("registry"));
    model = PushedModel.push(registry, tmp.resolve("model"), "models/profiled:v1",
        new SyntheticModel.Spec(24L << 20, 3, "BF16", 6, 21));
    digest = model.artifact().manifest().digest().toString();
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  /** A config with read-ahead (which replays profiles) on, background fill off, passthrough off. */
  private static String replayOnlyConfig() throws Exception {
    Path cfg = tmp.resolve("replay-only.yaml");
    // Passthrough off: the test counts the reads of replayed chunks, which passthrough opens of
    // complete files would hand to the kernel without the daemon seeing them.
    Files.writeString(cfg, "readAhead:\n  prefetch: true\n  backgroundFill: false\nfuse:\n  passthrough: false\n");
    return cfg.toString();
  }

  private static JsonNode mountStatus(DaemonProcess d) throws Exception {
    return JSON.readTree(Cli.ok("status", "--json", "--home", d.home.toString()).out()).path("mounts").get(0);
  }

  @Test
  void aProfileExportedOnOneDaemonIsReplayedByAnother() throws Exception {
    List<String> shards = model.sha().keySet().stream().filter(p -> p.endsWith(".safetensors")).toList();
    assertTrue(shards.size() >= 2, shards.toString());
    List<String> read = shards.subList(0, shards.size() - 1);
    long readBytes = 0;
    long chunksA = 0;
    for (String rel : read) {
      long size = Files.size(model.source().resolve(rel));
      readBytes += size;
      chunksA += (size + CHUNK_A - 1) / CHUNK_A;
    }
    Path exported = tmp.resolve("exported.profile");
    Path mpA = Files.createDirectories(tmp.resolve("mnt-a"));
    // A records only what readers touch: no read-ahead, no fill.
    try (DaemonProcess a = new DaemonProcess(tmp.resolve("home-a"), "--chunk-size", "256K", "--cache-size", "1G",
        "--config", DaemonProcess.noPrefetchConfig(tmp)).start()) {
      String home = a.home.toString();
      Cli.ok("mount", "--home", home, model.ref(), mpA.toString());
      for (String rel : read) {
        assertEquals(model.sha().get(rel), LazyMountIT.sha256(mpA.resolve(rel)), rel);
      }
      assertEquals("recording", mountStatus(a).path("profile").asText());

      // Live: what the open mount learned so far, by mountpoint.
      Cli.Result r = Cli.ok("profile", "export", "--home", home, mpA.toString(), exported.toString());
      assertEquals("exported the profile of " + digest + " (" + chunksA + " chunks of 256.0 KiB, learned so far by the mount at "
          + mpA + ") to " + exported + "\n", r.out());
      AccessProfile p = AccessProfile.read(exported);
      assertEquals(digest, p.manifest().toString());
      assertEquals(CHUNK_A, p.chunkSize());
      assertEquals(chunksA, p.entries().size(), "one entry per chunk read");
      Set<String> paths = new TreeSet<>();
      p.entries().forEach(e -> paths.add(e.path()));
      assertEquals(new TreeSet<>(read), paths, "only the files read are in the profile");
      String text = Files.readString(exported);

      // By reference and by digest the live mount answers too.
      Path byRef = tmp.resolve("by-ref.profile");
      Cli.ok("profile", "export", "--home", home, model.ref(), byRef.toString());
      assertEquals(text, Files.readString(byRef));
      Path byDigest = tmp.resolve("by-digest.profile");
      Cli.ok("profile", "export", "--home", home, digest, byDigest.toString());
      assertEquals(text, Files.readString(byDigest));

      // Unmounting saves it; ls lists it and an export by digest now reads the saved file.
      Cli.ok("umount", "--home", home, mpA.toString());
      assertEquals(text, Files.readString(a.home.resolve("profiles").resolve(p.manifest().hex() + ".profile")));
      JsonNode ls = JSON.readTree(Cli.ok("profile", "ls", "--json", "--home", home).out()).path("profiles");
      assertEquals(1, ls.size(), ls.toString());
      assertEquals(digest, ls.get(0).path("digest").asText());
      assertEquals(chunksA, ls.get(0).path("entries").asLong());
      assertEquals(text.length(), ls.get(0).path("sizeBytes").asLong());
      String lsText = Cli.ok("profile", "ls", "--home", home).out();
      String entries = " " + chunksA + " ";
      assertTrue(lsText.lines().anyMatch(l -> l.startsWith(digest + " ") && l.contains(entries)), lsText);
      Path saved = tmp.resolve("saved.profile");
      r = Cli.ok("profile", "export", "--home", home, digest, saved.toString());
      assertTrue(r.out().contains(", saved) to " + saved), r.out());
      assertEquals(text, Files.readString(saved));
    }

    // B: a fresh home on "another node", a different chunk size (profiles are byte ranges).
    Path mpB = Files.createDirectories(tmp.resolve("mnt-b"));
    try (DaemonProcess b = new DaemonProcess(tmp.resolve("home-b"), "--chunk-size", "1M", "--cache-size", "1G",
        "--config", replayOnlyConfig()).start()) {
      String home = b.home.toString();
      Cli.Result r = Cli.ok("profile", "import", "--home", home, exported.toString());
      assertEquals("installed the profile of " + digest + " (" + chunksA + " chunks of 256.0 KiB)\n", r.out());
      assertEquals(Files.readString(exported),
          Files.readString(b.home.resolve("profiles").resolve(digest.substring(7) + ".profile")));
      String lsText = Cli.ok("profile", "ls", "--home", home).out();
      assertTrue(lsText.lines().anyMatch(l -> l.startsWith(digest + " ")), lsText);
      assertEquals(0.0, Scrape.of(b.metricsPort()).value("modelcache_prefetch_issued_bytes_total"));

      Cli.ok("mount", "--home", home, model.ref(), mpB.toString());
      JsonNode m = mountStatus(b);
      for (int i = 0; i < 600 && !m.path("profile").asText().equals("replayed"); i++) {
        assertTrue(Set.of("loaded", "replaying").contains(m.path("profile").asText()), m.toString());
        Thread.sleep(100);
        m = mountStatus(b);
      }
      assertEquals("replayed", m.path("profile").asText(), "replay finished within 60 s: " + m);
      assertEquals("done", m.path("fill").asText(), m.toString());
      // Nothing was read, yet exactly the files A read are in B's cache (the replay fetched them),
      // plus what read-ahead fetches at every mount: each other shard's header chunk and the index.
      // The model was pushed with a chunk index, so a header read fetches (and checks) the whole
      // index chunk it lies in: 4 MiB, not the 1 MiB header read-ahead asks for.
      assertEquals("chunks", m.path("verification").asText(), m.toString());
      long headerFetch = Math.max(1 << 20, ChunkIndex.DEFAULT_CHUNK_SIZE);
      long atMount = 0;
      long headersOfRead = 0; // fetched at mount, so the replay finds them cached and skips them
      for (String rel : model.sha().keySet()) {
        long size = Files.size(model.source().resolve(rel));
        if (rel.endsWith(".safetensors") && !read.contains(rel)) {
          atMount += Math.min(headerFetch, size);
        } else if (rel.endsWith(".safetensors")) {
          headersOfRead += Math.min(headerFetch, size);
        } else if (rel.endsWith(".safetensors.index.json")) {
          atMount += size;
        }
      }
      long replayed = readBytes - headersOfRead;
      assertEquals(0, m.path("bytesRead").asLong(), m.toString());
      assertEquals(readBytes + atMount, m.path("cachedBytes").asLong(), m.toString());
      double issued = Scrape.of(b.metricsPort()).value("modelcache_prefetch_issued_bytes_total");
      assertTrue(issued >= replayed, "replay issued " + issued + " bytes for " + replayed + " read on A after the headers");
      assertTrue(Cli.ok("status", "--home", home).out().contains("\n    profile: replayed, fill: done\n"));

      for (ModelFile f : model.artifact().files()) {
        assertEquals(model.sha().get(f.path()), LazyMountIT.sha256(mpB.resolve(f.path())), f.path());
      }
      assertTrue(Scrape.of(b.metricsPort()).value("modelcache_prefetch_used_bytes_total") >= replayed,
          "the replayed chunks were then read");
      // A replaying mount does not record: the imported profile stays as it was.
      Cli.ok("umount", "--home", home, mpB.toString());
      assertEquals(Files.readString(exported),
          Files.readString(b.home.resolve("profiles").resolve(digest.substring(7) + ".profile")));
    }
  }

  @Test
  void badFilesAndUnknownTargetsAreOneLineErrors() throws Exception {
    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home-errors"), "--cache-size", "1G").start()) {
      String home = d.home.toString();
      Path missing = tmp.resolve("missing.profile");
      Cli.Result r = Cli.run(60, "profile", "import", "--home", home, missing.toString());
      assertEquals(3, r.exit());
      assertEquals("modelcache: " + missing + ": no such file", r.errLine());

      Path junk = Files.writeString(tmp.resolve("junk.profile"), "{\"not\": \"a profile\"}\n");
      r = Cli.run(60, "profile", "import", "--home", home, junk.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: " + junk + ": not a modelcache access profile (the first line is not 'modelcache-profile 1')",
          r.errLine());

      Path bad = Files.writeString(tmp.resolve("bad.profile"),
          "modelcache-profile 1\nmanifest " + digest + "\nchunk 262144\n0\tmodel.safetensors\nseven\tmodel.safetensors\n");
      r = Cli.run(60, "profile", "import", "--home", home, bad.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: " + bad + ": malformed access profile: line 5: expected '<chunk index>\\t<file path>', got"
          + " 'seven\tmodel.safetensors'", r.errLine());

      Path noDigest = Files.writeString(tmp.resolve("no-digest.profile"),
          "modelcache-profile 1\nmanifest sha256:1234\nchunk 262144\n0\tmodel.safetensors\n");
      r = Cli.run(60, "profile", "import", "--home", home, noDigest.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: " + noDigest + ": malformed access profile: line 2: invalid manifest digest 'sha256:1234'"
          + " (expected sha256:<64 hex>)", r.errLine());

      String unknown = "sha256:" + "ab".repeat(32);
      r = Cli.run(60, "profile", "export", "--home", home, unknown, tmp.resolve("out.profile").toString());
      assertEquals(3, r.exit());
      assertEquals("modelcache: no access profile for " + unknown + ": mount it and read from it first, or import one",
          r.errLine());
      assertTrue(!Files.exists(tmp.resolve("out.profile")));

      Path notMounted = Files.createDirectories(tmp.resolve("not-a-mount"));
      r = Cli.run(60, "profile", "export", "--home", home, notMounted.toString(), tmp.resolve("out.profile").toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: " + notMounted + " is not a ModelCache mount", r.errLine());

      // Known to the registry but never profiled here: named by reference and the digest it resolved to.
      r = Cli.run(60, "profile", "export", "--home", home, model.ref(), tmp.resolve("out.profile").toString());
      assertEquals(3, r.exit());
      assertEquals("modelcache: no access profile for " + model.ref() + " (" + digest
          + "): mount it and read from it first, or import one", r.errLine());

      String unknownRef = registry.hostPort() + "/models/never-pushed:v1";
      r = Cli.run(60, "profile", "export", "--home", home, unknownRef, tmp.resolve("out.profile").toString());
      assertEquals(3, r.exit(), r.toString());
      assertEquals(1, r.errLine().lines().count(), r.err());
      assertTrue(r.errLine().startsWith("modelcache: ") && r.errLine().contains("never-pushed"), r.errLine());
      assertEquals("", r.out());

      // Imported while a mount of that digest records: the import wins over what the mount learned.
      Path mp = Files.createDirectories(tmp.resolve("mnt-errors"));
      Cli.ok("mount", "--home", home, model.ref(), mp.toString());
      String shard = model.sha().keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
      assertEquals(model.sha().get(shard), LazyMountIT.sha256(mp.resolve(shard)));
      assertEquals("recording", mountStatus(d).path("profile").asText());
      String handMade = "modelcache-profile 1\nmanifest " + digest + "\nchunk 65536\n3\t" + shard + "\n0\t" + shard + "\n";
      Path own = Files.writeString(tmp.resolve("hand-made.profile"), handMade);
      r = Cli.ok("profile", "import", "--home", home, own.toString());
      assertEquals("installed the profile of " + digest + " (2 chunks of 64.0 KiB)\n"
          + "it applies from the next mount; mounted now at " + mp + "\n", r.out());
      Cli.ok("umount", "--home", home, mp.toString());
      assertEquals(handMade, Files.readString(d.home.resolve("profiles").resolve(digest.substring(7) + ".profile")));
      r = Cli.ok("profile", "import", "--home", home, own.toString());
      assertEquals("replaced the profile of " + digest + " (2 chunks of 64.0 KiB)\n", r.out());
    }
  }
}
