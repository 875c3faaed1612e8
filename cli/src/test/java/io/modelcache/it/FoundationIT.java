package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 2's acceptance test through the real launcher: push, inspect and pull against a real
 * docker-registry (no auth and htpasswd basic auth) and an OCI layout, and each bad input's exact
 * one-line error and exit code.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FoundationIT {
  @TempDir static Path tmp;
  RegistryHarness open;
  RegistryHarness auth;
  Path model;
  Map<String, String> sourceSha;

  @BeforeAll
  void setUp() throws Exception {
    open = RegistryHarness.start(tmp.resolve("reg-open"));
    auth = RegistryHarness.startWithBasicAuth(tmp.resolve("reg-auth"), "alice", "s3cret-pass");
    model = tmp.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(64L << 20, 3, "BF16", 8, 11));
    sourceSha = shas(model);
  }

  @AfterAll
  void tearDown() throws Exception {
    if (open != null) {
      open.close();
    }
    if (auth != null) {
      auth.close();
    }
  }

  static Map<String, String> shas(Path root) throws Exception {
    return PushedModel.shas(root);
  }

  private void roundTrip(String ref, String... pushFlags) throws Exception {
    String[] push = Stream.concat(Stream.of("push", model.toString(), ref), Stream.of(pushFlags)).toArray(String[]::new);
    Cli.Result pushed = Cli.ok(push);
    String digest = pushed.out().strip();
    assertTrue(Digest.isValid(digest), "push prints the manifest digest: " + pushed.out());

    JsonNode inspect = new ObjectMapper().readTree(Cli.ok("inspect", ref, "--json").out());
    assertEquals(digest, inspect.path("digest").asText());
    assertTrue(inspect.path("chunkIndex").path("accepted").asBoolean(), "push pushes the chunk index: " + inspect);
    assertEquals(sourceSha.size(), inspect.path("files").size());
    for (JsonNode f : inspect.path("files")) {
      Path src = model.resolve(f.path("path").asText());
      assertEquals(Files.size(src), f.path("size").asLong(), f.toString());
      assertTrue(f.path("mediaType").asText().startsWith("application/vnd.cncf.model."), f.toString());
    }
    String text = Cli.ok("inspect", ref).out();
    assertTrue(text.contains(digest) && text.contains("model-00001-of-00003.safetensors"), text);

    Path out = tmp.resolve("pulled-" + Integer.toHexString(ref.hashCode()) + (pushFlags.length > 0 ? "-tar" : ""));
    Cli.ok("pull", ref, out.toString());
    assertEquals(sourceSha, shas(out));
  }

  @Test
  void pushInspectPullThroughARegistry() throws Exception {
    roundTrip(open.hostPort() + "/models/synthetic:v1");
  }

  @Test
  void pushInspectPullTarLayers() throws Exception {
    roundTrip(open.hostPort() + "/models/synthetic-tar:v1", "--tar");
  }

  @Test
  void pushInspectPullThroughAnOciLayout() throws Exception {
    roundTrip("oci:" + tmp.resolve("layout") + ":v1");
  }

  @Test
  void basicAuthLoginAndWrongPassword() throws Exception {
    Path cfg = tmp.resolve("docker/config.json");
    Map<String, String> env = Map.of("DOCKER_CONFIG", cfg.getParent().toString());
    Cli.Result bad = Cli.run(env, "wrong\n", 60, "login", auth.hostPort(), "-u", "alice", "--password-stdin");
    assertEquals(4, bad.exit());
    assertEquals("modelcache: " + auth.hostPort() + ": authentication failed for user 'alice' (401 Unauthorized)", bad.errLine());
    assertFalse(Files.exists(cfg), "no credentials stored after a refused login");

    Cli.Result good = Cli.run(env, "s3cret-pass\n", 60, "login", auth.hostPort(), "-u", "alice", "--password-stdin");
    assertEquals(0, good.exit(), good.err());
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(cfg)));
    assertFalse(good.out().contains("s3cret") || good.err().contains("s3cret"), "never print the password");

    String ref = auth.hostPort() + "/models/private:v1";
    Cli.Result noCreds = Cli.run(60, "push", model.toString(), ref);
    assertEquals(4, noCreds.exit());
    assertEquals("modelcache: " + auth.hostPort() + ": authentication required; run 'modelcache login " + auth.hostPort() + "'",
        noCreds.errLine());

    assertEquals(0, Cli.run(env, null, 180, "push", model.toString(), ref).exit());
    Path out = tmp.resolve("pulled-private");
    Cli.Result pulled = Cli.run(env, null, 180, "pull", ref, out.toString());
    assertEquals(0, pulled.exit(), pulled.err());
    assertEquals(sourceSha, shas(out));
  }

  /**
   * {@code --page-cache keep} leaves a pulled shard in the page cache for the loader; {@code bypass}
   * writes it with O_DIRECT, so at most its tail (under one 4 MiB buffer) is cached. Exact bytes both ways.
   */
  @Test
  void pullKeepsOrBypassesThePageCache() throws Exception {
    String fs = Files.getFileStore(tmp).type();
    if (fs.equals("tmpfs")) {
      System.err.println("NOTE: " + tmp + " is on tmpfs, whose files are the page cache: skipping the page-cache check");
    }
    assumeTrue(!fs.equals("tmpfs"), "tmp on tmpfs");
    // A model of its own: another test corrupts a shared blob in the registry's storage.
    Path own = tmp.resolve("pagecache-model");
    SyntheticModel.generate(own, new SyntheticModel.Spec(64L << 20, 3, "BF16", 8, 13));
    Map<String, String> ownSha = shas(own);
    String ref = open.hostPort() + "/models/pagecache:v1";
    Cli.ok("push", own.toString(), ref);
    Path keep = tmp.resolve("pulled-keep");
    Path bypass = tmp.resolve("pulled-bypass");
    String shard = "model-00001-of-00003.safetensors";
    long size = Files.size(own.resolve(shard));
    assertTrue(size > 8 << 20, "the shard spans whole 4 MiB buffers: " + size);
    // Checked right after each pull and before the checksums, which read the files into the page cache.
    Cli.ok("pull", "--page-cache", "keep", ref, keep.toString());
    long kept = resident(keep.resolve(shard));
    if (kept < size / 2) {
      // Some kernels reclaim clean, unmapped page cache on their own (DAMON's pageout scheme runs on
      // these machines). A file the test writes through the page cache tells that apart from a pull
      // that bypassed it.
      Path control = tmp.resolve("page-cache-control");
      try (var ch = FileChannel.open(control, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(Files.readAllBytes(own.resolve(shard))));
        ch.force(true);
      }
      long controlKept = resident(control);
      if (controlKept < size / 2) {
        System.err.println("NOTE: the kernel dropped " + (size - controlKept) + " of " + size
            + " bytes of a file just written through the page cache: not checking that --page-cache keep"
            + " leaves the pulled files cached (the bypass and checksum checks still run)");
      } else {
        fail("--page-cache keep left " + kept + " of " + size + " bytes in the page cache, against " + controlKept
            + " for a file written through it");
      }
    }
    Cli.ok("pull", "--page-cache", "bypass", ref, bypass.toString());
    long bypassed = resident(bypass.resolve(shard));
    assertTrue(bypassed < 4 << 20, "only the tail went through the page cache: " + bypassed + " of " + size
        + " bytes resident");
    assertEquals(ownSha, shas(keep));
    assertEquals(ownSha, shas(bypass));
  }

  /** Bytes of {@code f} in the page cache, from util-linux's fincore. */
  private static long resident(Path f) throws Exception {
    Process p = new ProcessBuilder("fincore", "--bytes", "--noheadings", "--output", "RES", f.toString())
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0, "fincore: " + out);
    return Long.parseLong(out);
  }

  @Test
  void unknownTag() throws Exception {
    Cli.Result r = Cli.run(60, "inspect", open.hostPort() + "/models/synthetic:no-such-tag");
    assertEquals(3, r.exit());
    assertEquals("modelcache: " + open.hostPort() + "/models/synthetic: manifest 'no-such-tag' not found", r.errLine());
  }

  @Test
  void registryDown() throws Exception {
    int port;
    try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Cli.Result r = Cli.run(120, "inspect", "127.0.0.1:" + port + "/models/x:v1");
    assertEquals(5, r.exit());
    assertEquals("modelcache: 127.0.0.1:" + port + ": registry unreachable (connection refused)", r.errLine());
  }

  @Test
  void pathTraversalIsRejected() throws Exception {
    String ref = open.hostPort() + "/models/evil:v1";
    byte[] file = "root:x:0:0::/root:/bin/sh\n".getBytes(StandardCharsets.UTF_8);
    Digest fd = Digest.of(file);
    byte[] config = ("{\"descriptor\":{\"name\":\"evil\"},\"config\":{},\"modelfs\":{\"type\":\"layers\",\"diffIds\":[\"" + fd
        + "\"]}}").getBytes(StandardCharsets.UTF_8);
    Digest cd = Digest.of(config);
    String manifest = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"artifactType\":\""
        + MediaTypes.MODEL_ARTIFACT + "\",\"config\":{\"mediaType\":\"" + MediaTypes.MODEL_CONFIG + "\",\"digest\":\"" + cd
        + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":\"application/vnd.cncf.model.doc.v1.raw\",\"digest\":\""
        + fd + "\",\"size\":" + file.length + ",\"annotations\":{\"org.cncf.model.filepath\":\"../../etc/passwd\"}}]}";
    try (ArtifactSink sink = RegistryClient.open(Reference.parse(ref), RegistryOptions.defaults())) {
      sink.putBlob(fd, file.length, () -> new ByteArrayInputStream(file));
      sink.putBlob(cd, config.length, () -> new ByteArrayInputStream(config));
      sink.putManifest("v1", manifest.getBytes(StandardCharsets.UTF_8), MediaTypes.OCI_MANIFEST);
    }
    Path out = tmp.resolve("evil-out/a/b");
    Cli.Result r = Cli.run(60, "pull", ref, out.toString());
    assertEquals(7, r.exit());
    assertEquals("modelcache: " + ref + ": layer " + fd.shortHex() + ": unsafe file path '../../etc/passwd' ('..' segment)",
        r.errLine());
    assertFalse(Files.exists(tmp.resolve("evil-out/etc/passwd")));
  }

  @Test
  void aCorruptedBlobFailsThePullAndLeavesNoFile() throws Exception {
    String ref = open.hostPort() + "/models/corrupt:v1";
    Cli.ok("push", model.toString(), ref);
    Path shard = model.resolve("model-00002-of-00003.safetensors");
    Digest d = new Digest(LazyMountIT.sha256(shard));
    Path data = open.blobDataPath(d);
    byte[] bytes = Files.readAllBytes(data);
    bytes[bytes.length / 2] ^= 0x55;
    Files.write(data, bytes);
    Path out = tmp.resolve("pulled-corrupt");
    Cli.Result r = Cli.run(120, "pull", ref, out.toString());
    assertEquals(8, r.exit());
    assertTrue(r.errLine().startsWith("modelcache: " + ref + ": layer " + d + " failed verification (got sha256:"), r.errLine());
    assertFalse(Files.exists(out.resolve("model-00002-of-00003.safetensors")), "no partial file left as if complete");
  }
}
