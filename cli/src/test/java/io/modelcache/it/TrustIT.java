package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.AccessLogEntry;
import io.modelcache.testkit.CosignSpec;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's signature policy on a real docker-registry, a real daemon and real FUSE mounts: models
 * signed by {@code modelcache sign} and by the test's own spec-built signatures (cosign tag form and a
 * sigstore DSSE bundle in the referrers tag) mount and read exact; an unsigned model, one signed by
 * another key and one whose signature names another digest are refused by mount and by pull (to a
 * directory, and the daemon's cache warming) with one line and exit 12, and the registry's own log shows no GET of any blob of theirs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrustIT {
  static final String PASSWORD = "correct horse";
  @TempDir static Path tmp;
  RegistryHarness registry;
  KeyPair trusted;
  KeyPair stranger;
  Path trustedKeyFile;
  Path strangerKeyFile;
  Path config;
  int sentinel;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
    registry = RegistryHarness.start(tmp.resolve("registry"));
    trusted = CosignSpec.p256();
    stranger = CosignSpec.p256();
    Path pub = Files.writeString(tmp.resolve("cosign.pub"), CosignSpec.publicPem(trusted.getPublic()));
    trustedKeyFile = Files.writeString(tmp.resolve("cosign.key"),
        CosignSpec.encryptedKeyFile(trusted.getPrivate(), PASSWORD, "ENCRYPTED SIGSTORE PRIVATE KEY"));
    strangerKeyFile = Files.writeString(tmp.resolve("other.key"),
        CosignSpec.encryptedKeyFile(stranger.getPrivate(), "", "ENCRYPTED COSIGN PRIVATE KEY"));
    config = Files.writeString(tmp.resolve("config.yaml"), """
        trust:
          - scope: "*"
            require: none
          - scope: %s/models
            require: sigstore
            keys: [%s]
        """.formatted(registry.hostPort(), pub));
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  private PushedModel push(String name, long seed) throws Exception {
    return push("models", name, seed);
  }

  private PushedModel push(String repo, String name, long seed) throws Exception {
    return PushedModel.push(registry, tmp.resolve("src-" + name), repo + "/" + name + ":v1",
        new SyntheticModel.Spec(2 << 20, 2, "BF16", 4, seed));
  }

  private static Digest digest(PushedModel m) {
    return m.artifact().manifest().digest();
  }

  private RegistryClient client(PushedModel m) throws Exception {
    return RegistryClient.open(Reference.parse(m.ref()), RegistryOptions.defaults());
  }

  private Cli.Result sign(PushedModel m, Path key, String password) throws Exception {
    return Cli.run(Map.of("COSIGN_PASSWORD", password), null, 120, "sign", m.ref(), "--key", key.toString(),
        "--config", config.toString());
  }

  /** Every blob of the model: its config and its layers. */
  private static Set<String> blobs(PushedModel m) {
    Set<String> s = new HashSet<>();
    s.add(m.artifact().configDigest().toString());
    m.artifact().files().forEach(f -> s.add(f.layer().digest().toString()));
    return s;
  }

  /** The registry's log from entry {@code from} on, once a request made now shows in it. */
  private List<AccessLogEntry> logSince(int from) throws Exception {
    String tag = "sentinel-" + (++sentinel);
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/sentinel:x"), RegistryOptions.defaults())) {
      c.fetchManifest(tag);
    } catch (ModelCacheException notFound) {
      // expected: only its log line matters
    }
    for (int i = 0; i < 200; i++) {
      List<AccessLogEntry> log = registry.accessLog();
      if (log.stream().anyMatch(e -> e.uri().endsWith("/manifests/" + tag))) {
        return log.subList(Math.min(from, log.size()), log.size());
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the registry never logged " + tag);
  }

  private static List<String> blobGets(List<AccessLogEntry> log, Set<String> blobs) {
    return log.stream().filter(e -> e.method().equals("GET"))
        .filter(e -> blobs.stream().anyMatch(b -> e.uri().contains("/blobs/" + b))).map(AccessLogEntry::uri).toList();
  }

  private void assertRefused(DaemonProcess d, PushedModel m, String why) throws Exception {
    String line = "modelcache: " + m.ref() + " (" + digest(m) + "): not trusted: " + why;
    int before = registry.accessLog().size();
    Path mp = Files.createDirectories(tmp.resolve("mnt-refused-" + sentinel));
    Cli.Result r = Cli.run(120, "mount", "--home", d.home.toString(), m.ref(), mp.toString());
    assertEquals(12, r.exit(), r.err());
    assertEquals(line, r.errLine());
    Path into = tmp.resolve("pull-refused-" + sentinel);
    Cli.Result p = Cli.run(120, "pull", m.ref(), into.toString(), "--config", config.toString());
    assertEquals(12, p.exit(), p.err());
    assertEquals(line, p.errLine());
    assertFalse(Files.exists(into) && Files.list(into).findAny().isPresent(), "pull wrote into " + into);
    Cli.Result warm = Cli.run(120, "pull", "--home", d.home.toString(), m.ref()); // the daemon warms: its policy
    assertEquals(12, warm.exit(), warm.err());
    assertEquals(line, warm.errLine());
    assertEquals(List.of(), blobGets(logSince(before), blobs(m)), "blob GETs of a refused model");
    try (var s = Files.list(mp)) {
      assertFalse(s.findAny().isPresent());
    }
  }

  private void assertMountsExact(DaemonProcess d, PushedModel m, String state) throws Exception {
    assertMountsExact(d, m, state, "chunks");
  }

  /** @param verification how the mount checks chunks: "chunks" with an accepted (signed) index, else "lazy" */
  private void assertMountsExact(DaemonProcess d, PushedModel m, String state, String verification) throws Exception {
    Path mp = Files.createDirectories(tmp.resolve("mnt-" + m.ref().replaceAll("[^a-z0-9]", "_")));
    int before = registry.accessLog().size();
    Cli.Result r = Cli.ok("mount", "--home", d.home.toString(), m.ref(), mp.toString());
    assertTrue(r.out().startsWith("mounted " + m.ref() + " (" + digest(m) + ")"), r.out());
    Map<String, String> read = new TreeMap<>();
    for (String rel : m.sha().keySet()) {
      read.put(rel, LazyMountIT.sha256(mp.resolve(rel)));
    }
    assertEquals(m.sha(), read);
    // The log check of the refusals can see blob GETs: an admitted mount's reads show up in it.
    assertFalse(blobGets(logSince(before), blobs(m)).isEmpty(), "no blob GET logged for an admitted mount");
    JsonNode ls = new ObjectMapper().readTree(Cli.ok("ls", "--home", d.home.toString(), "--json").out());
    String shown = null;
    String checks = null;
    for (JsonNode n : ls.path("mounts")) {
      if (n.path("mountpoint").asText().equals(mp.toString())) {
        shown = n.path("signature").asText();
        checks = n.path("verification").asText();
      }
    }
    assertEquals(state, shown);
    assertEquals(verification, checks, m.ref());
    assertTrue(Cli.ok("status", "--home", d.home.toString()).out().contains("    signature: " + state + "\n"));
    Cli.ok("umount", "--home", d.home.toString(), mp.toString());
  }

  @Test
  void signedModelsMountAndOthersAreRefusedBeforeAnyBlob() throws Exception {
    PushedModel signed = push("signed", 11);
    PushedModel unsigned = push("unsigned", 12);
    PushedModel otherKey = push("otherkey", 13);
    PushedModel otherDigest = push("otherdigest", 14);
    PushedModel hand = push("hand", 15);
    PushedModel bundle = push("bundle", 16);
    PushedModel outside = push("elsewhere", "outside", 17); // outside the sigstore rule's scope

    // modelcache sign, with cosign's key file and COSIGN_PASSWORD; the test's own verifier accepts it.
    // The model was pushed with its chunk index: sign signs that too.
    Digest index;
    try (RegistryClient c = client(signed)) {
      index = IndexStore.find(c, digest(signed)).artifact();
    }
    Cli.Result s = sign(signed, trustedKeyFile, PASSWORD);
    assertEquals(0, s.exit(), s.err());
    assertEquals("signed " + signed.ref() + " (" + digest(signed) + "): sha256-" + digest(signed).hex() + ".sig\n"
        + "signed its chunk index " + index + ": sha256-" + index.hex() + ".sig\n", s.out());
    try (RegistryClient c = client(signed)) {
      assertTrue(CosignSpec.tagSignatureValid(new CosignSpec.Blobs() {
        @Override
        public byte[] manifest(String tag) throws Exception {
          return c.fetchManifest(tag).bytes();
        }

        @Override
        public byte[] blob(String d) throws Exception {
          return c.fetchBlob(Digest.parse(d), 1 << 20);
        }
      }, index.toString(), trusted.getPublic()), "the index's signature");
      assertTrue(CosignSpec.tagSignatureValid(new CosignSpec.Blobs() {
        @Override
        public byte[] manifest(String tag) throws Exception {
          return c.fetchManifest(tag).bytes();
        }

        @Override
        public byte[] blob(String d) throws Exception {
          return c.fetchBlob(Digest.parse(d), 1 << 20);
        }
      }, digest(signed).toString(), trusted.getPublic()));
    }
    Cli.Result wrong = sign(unsigned, trustedKeyFile, "not it");
    assertEquals(2, wrong.exit());
    assertEquals("modelcache: key " + trustedKeyFile + ": wrong passphrase (set COSIGN_PASSWORD)", wrong.errLine());
    Path bad = Files.writeString(tmp.resolve("bad.yaml"), "trust:\n  - scope: x.example\n    require: always\n");
    Cli.Result badConfig = Cli.run(Map.of("COSIGN_PASSWORD", PASSWORD), null, 120, "sign", unsigned.ref(),
        "--key", trustedKeyFile.toString(), "--config", bad.toString());
    assertEquals(2, badConfig.exit());
    assertEquals("modelcache: " + bad + " line 3: trust.0.require: expected sigstore, none or reject, got 'always'", badConfig.errLine());

    Cli.Result o = sign(otherKey, strangerKeyFile, ""); // empty passphrase, cosign 1.x PEM spelling
    assertEquals(0, o.exit(), o.err());

    // Hand-built from the specifications: a trusted signature over the signed model's digest placed at
    // otherdigest's signature tag; the tag form for "hand"; a DSSE bundle in the referrers tag for "bundle".
    putTagSignature(otherDigest, CosignSpec.payload(signed.ref(), digest(signed).toString()));
    putTagSignature(hand, CosignSpec.payload(registry.hostPort() + "/models/hand", digest(hand).toString()));
    putBundle(bundle);

    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--config", config.toString(), "--cache-size", "1G").start()) {
      assertMountsExact(d, signed, "verified by cosign.pub (cosign signature tag)");
      // "hand" has a signed manifest but its chunk index is unsigned: under require: sigstore the
      // index is not used (one line in the log) and the mount checks each blob when it is whole.
      Digest handIndex;
      try (RegistryClient c = client(hand)) {
        handIndex = IndexStore.find(c, digest(hand)).artifact();
      }
      assertMountsExact(d, hand, "verified by cosign.pub (cosign signature tag)", "lazy");
      String log = Files.readString(d.home.resolve("daemon.log"));
      assertTrue(log.contains(": chunk index " + handIndex + " not used: not trusted: no signature; serving chunks as they arrive"),
          log);
      // putBundle's referrers tag lists only the bundle: this model has no index to use.
      assertMountsExact(d, bundle, "verified by cosign.pub (sigstore bundle (DSSE))", "lazy");
      assertRefused(d, unsigned, "no signature");
      assertRefused(d, otherKey, "no signature by a trusted key (1 signature checked against cosign.pub)");
      assertRefused(d, otherDigest, "signed digest differs (the signature by cosign.pub names " + digest(signed) + ")");
      // Outside the scope the "*" rule (none) applies: unsigned, mounted, and said so.
      assertMountsExact(d, outside, "not checked (policy none)");
    }

    // pull of the signed model with the same config: exact files.
    Path into = tmp.resolve("pulled");
    Cli.Result p = Cli.run(180, "pull", signed.ref(), into.toString(), "--config", config.toString());
    assertEquals(0, p.exit(), p.err());
    assertEquals(signed.sha(), PushedModel.shas(into));
  }

  private void putTagSignature(PushedModel m, byte[] payload) throws Exception {
    byte[] sig = CosignSpec.sign(trusted.getPrivate(), payload);
    byte[] cfg = "{\"architecture\":\"\",\"os\":\"\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".getBytes(StandardCharsets.UTF_8);
    try (RegistryClient c = client(m)) {
      put(c, payload);
      put(c, cfg);
      byte[] manifest = CosignSpec.signatureManifest(CosignSpec.sha256(cfg), cfg.length, payload, sig).getBytes(StandardCharsets.UTF_8);
      c.putManifest("sha256-" + digest(m).hex() + ".sig", manifest, MediaTypes.OCI_MANIFEST);
    }
  }

  private void putBundle(PushedModel m) throws Exception {
    byte[] bundle = CosignSpec.dsseBundle(trusted.getPrivate(), trusted.getPublic(), m.ref(), digest(m).toString());
    try (RegistryClient c = client(m)) {
      put(c, bundle);
      put(c, "{}".getBytes(StandardCharsets.UTF_8));
      byte[] ref = CosignSpec.bundleManifest(bundle, digest(m).toString(), m.artifact().manifest().mediaType(),
          m.artifact().manifest().bytes().length).getBytes(StandardCharsets.UTF_8);
      Digest refDigest = c.putManifest(null, ref, MediaTypes.OCI_MANIFEST);
      byte[] index = CosignSpec.referrersIndex(refDigest.toString(), ref.length).getBytes(StandardCharsets.UTF_8);
      c.putManifest("sha256-" + digest(m).hex(), index, MediaTypes.OCI_INDEX);
    }
  }

  private static void put(RegistryClient c, byte[] bytes) throws Exception {
    Digest d = Digest.of(bytes);
    if (!c.hasBlob(d)) {
      c.putBlob(d, bytes.length, () -> new ByteArrayInputStream(bytes));
    }
  }
}
