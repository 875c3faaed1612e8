package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.AccessLogEntry;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryClientIT {
  @TempDir static Path dir;
  static RegistryHarness registry;
  static RegistryClient client;
  static byte[] small;
  static byte[] big;
  static Digest smallDigest;
  static Digest bigDigest;
  static byte[] manifest;
  static Digest manifestDigest;

  static RegistryOptions fastOptions() {
    return RegistryOptions.defaults()
        .withDockerConfig(dir.resolve("no-such-config.json"))
        .withRetries(3, Duration.ofMillis(10), Duration.ofMillis(50));
  }

  @BeforeAll
  static void pushFixture() throws IOException {
    registry = RegistryHarness.start(dir.resolve("reg"));
    Random rnd = new Random(42);
    small = new byte[100_000];
    rnd.nextBytes(small);
    big = new byte[(17 << 20) + 12345];
    rnd.nextBytes(big);
    smallDigest = Digest.of(small);
    bigDigest = Digest.of(big);
    client = RegistryClient.open(Reference.parse(registry.hostPort() + "/models/tiny:v1"), fastOptions());
    client.putBlob(smallDigest, small.length, () -> new ByteArrayInputStream(small));
    client.putBlob(bigDigest, big.length, () -> new ByteArrayInputStream(big));
    String m = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"artifactType\":\""
        + MediaTypes.MODEL_ARTIFACT + "\",\"config\":{\"mediaType\":\"" + MediaTypes.OCI_EMPTY
        + "\",\"digest\":\"" + smallDigest + "\",\"size\":" + small.length + "},\"layers\":[{\"mediaType\":"
        + "\"application/vnd.cncf.model.weight.v1.raw\",\"digest\":\"" + bigDigest + "\",\"size\":" + big.length
        + "}]}";
    manifest = m.getBytes(StandardCharsets.UTF_8);
    manifestDigest = client.putManifest("v1", manifest, MediaTypes.OCI_MANIFEST);
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void fetchesManifestByTagAndDigest() throws IOException {
    assertEquals(Digest.of(manifest), manifestDigest);
    FetchedManifest byTag = client.fetchManifest("v1");
    assertArrayEquals(manifest, byTag.bytes());
    assertEquals(MediaTypes.OCI_MANIFEST, byTag.mediaType());
    assertEquals(manifestDigest, byTag.digest());
    FetchedManifest byDigest = client.fetchManifest(manifestDigest.toString());
    assertArrayEquals(manifest, byDigest.bytes());
    var head = client.headManifest("v1");
    assertEquals(manifestDigest, head.digest());
    assertEquals(manifest.length, head.size());
  }

  @Test
  void fetchesBlobsVerified() throws IOException {
    assertArrayEquals(small, client.fetchBlob(smallDigest, 1 << 20));
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> client.fetchBlob(smallDigest, 1000));
    assertEquals(ModelCacheException.Kind.INVALID_ARTIFACT, e.kind());
  }

  @Test
  void openBlobRanges() throws IOException {
    long[][] ranges = {{0, -1}, {0, 1}, {5, 1000}, {1 << 20, 3 << 20}, {big.length - 10, -1}, {big.length - 10, 10},
        {123_456, 8_000_001}};
    for (long[] r : ranges) {
      int from = (int) r[0];
      int to = r[1] < 0 ? big.length : (int) (r[0] + r[1]);
      byte[] want = Arrays.copyOfRange(big, from, to);
      try (InputStream in = client.openBlob(bigDigest, r[0], r[1])) {
        byte[] got = in.readAllBytes();
        assertEquals(Digest.of(want), Digest.of(got), "range " + r[0] + "+" + r[1]);
      }
    }
  }

  @Test
  void earlyCloseAndManyStreamsReuseConnections() throws IOException {
    for (int i = 0; i < 30; i++) {
      try (InputStream in = client.openBlob(bigDigest, i * 1000L, 100_000)) {
        assertEquals(10, in.readNBytes(10).length);
      }
    }
    try (InputStream in = client.openBlob(smallDigest, 10, 20)) {
      assertArrayEquals(Arrays.copyOfRange(small, 10, 30), in.readAllBytes());
    }
  }

  @Test
  void bigBlobWentUpInChunksAndSmallInOnePut() {
    var log = registry.accessLog();
    long patches = log.stream().filter(e -> e.method().equals("PATCH") && e.status() == 202).count();
    assertEquals(2, patches, "17 MiB in 16 MiB chunks");
    assertTrue(log.stream().anyMatch(e -> e.method().equals("PUT") && e.uri().contains("digest=" + smallDigest.toString().replace(":", "%3A"))
        && e.status() == 201));
  }

  @Test
  void accessLogCountsBlobBytes() throws IOException {
    byte[] data = new byte[300_000];
    new Random(7).nextBytes(data);
    Digest d = Digest.of(data);
    client.putBlob(d, data.length, () -> new ByteArrayInputStream(data));
    assertEquals(0, registry.blobBytesServed(d));
    assertArrayEquals(data, client.fetchBlob(d, 1 << 20));
    try (InputStream in = client.openBlob(d, 1000, 5000)) {
      assertEquals(5000, in.readAllBytes().length);
    }
    assertEquals(data.length + 5000, registry.blobBytesServed(d));
  }

  @Test
  void keepAliveConnectionsAreReused() throws Exception {
    // A repository of its own: the registry logs a response after writing it, so a line from another
    // test's connection can land after any "before" mark; filtering by repository makes the count exact.
    String repo = "models/keepalive";
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/" + repo), fastOptions())) {
      c.putBlob(smallDigest, small.length, () -> new ByteArrayInputStream(small));
      String own = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"mediaType\":\""
          + MediaTypes.OCI_EMPTY + "\",\"digest\":\"" + smallDigest + "\",\"size\":" + small.length + "},\"layers\":[]}";
      c.putManifest("v1", own.getBytes(StandardCharsets.UTF_8), MediaTypes.OCI_MANIFEST);
      for (int i = 0; i < 20; i++) {
        c.fetchManifest("v1");
        c.headManifest("v1");
        assertTrue(c.hasBlob(smallDigest));
        try (InputStream in = c.openBlob(smallDigest, i, 10)) {
          assertEquals(10, in.readAllBytes().length);
        }
      }
      List<AccessLogEntry> reads = List.of();
      for (int wait = 0; wait < 100 && reads.size() < 80; wait++) {
        if (wait > 0) {
          Thread.sleep(50);
        }
        reads = registry.accessLog().stream()
            .filter(e -> e.uri().startsWith("/v2/" + repo + "/"))
            .filter(e -> (e.method().equals("GET") || e.method().equals("HEAD")) && e.status() / 100 == 2)
            .toList();
      }
      assertEquals(80, reads.size(), "every read logged");
      long conns = reads.stream().map(AccessLogEntry::remoteAddr).distinct().count();
      assertEquals(1, conns, "sequential requests share one connection");
    }
  }

  @Test
  void concurrentRangeReadsThroughFewConnections() throws Exception {
    RegistryOptions o = fastOptions().withMaxConnectionsPerHost(3);
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/models/tiny"), o)) {
      var pool = java.util.concurrent.Executors.newFixedThreadPool(12);
      try {
        var futures = new ArrayList<java.util.concurrent.Future<?>>();
        for (int t = 0; t < 48; t++) {
          int seed = t;
          futures.add(pool.submit(() -> {
            Random r = new Random(seed);
            int off = r.nextInt(big.length - 1);
            int len = 1 + r.nextInt(Math.min(2 << 20, big.length - off));
            try (InputStream in = c.openBlob(bigDigest, off, len)) {
              assertArrayEquals(Arrays.copyOfRange(big, off, off + len), in.readAllBytes());
            }
            return null;
          }));
        }
        for (var f : futures) {
          f.get();
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void slowReaderHoldsBackTheRegistry() throws Exception {
    // Larger than everything that may hold it between the registry and the reader: this client's
    // queue and one socket read, and the socket buffers at their autotuned maximum (this machine's).
    long size = ChannelBridge.HIGH_WATER + HttpTransport.READ_BYTES + sysctlMax("net/ipv4/tcp_rmem")
        + sysctlMax("net/ipv4/tcp_wmem") + (16 << 20);
    byte[] blob = new byte[(int) size];
    new Random(11).nextBytes(blob);
    Digest d = Digest.of(blob);
    client.putBlob(d, blob.length, () -> new ByteArrayInputStream(blob));
    java.util.function.LongSupplier wholeGets = () -> registry.accessLog().stream().filter(e -> e.method().equals("GET")
        && e.uri().endsWith(d.toString()) && e.written() == blob.length).count();
    try (InputStream in = client.openBlob(d, 0, -1)) {
      assertEquals(10, in.readNBytes(10).length);
      Thread.sleep(1000);
      // With backpressure the registry cannot have finished writing the blob into socket buffers.
      assertEquals(0, wholeGets.getAsLong(), () -> size + " bytes; tcp_rmem " + sysctl("net/ipv4/tcp_rmem") + ", tcp_wmem "
          + sysctl("net/ipv4/tcp_wmem"));
      assertEquals(Digest.of(Arrays.copyOfRange(blob, 10, blob.length)), Digest.of(in.readAllBytes()));
    }
  }

  /** A sysctl's text, for a failure message. */
  private static String sysctl(String name) {
    try {
      return Files.readString(Path.of("/proc/sys/" + name)).trim();
    } catch (IOException e) {
      return e.toString();
    }
  }

  /** The last (maximum) field of a TCP buffer sysctl such as net/ipv4/tcp_rmem. */
  private static long sysctlMax(String name) throws IOException {
    String[] f = Files.readString(Path.of("/proc/sys/" + name)).trim().split("\\s+");
    return Long.parseLong(f[f.length - 1]);
  }

  @Test
  void crossRepositoryMount() throws IOException {
    try (RegistryClient other = RegistryClient.open(Reference.parse(registry.hostPort() + "/models/copy"), fastOptions())) {
      assertFalse(other.hasBlob(smallDigest));
      assertTrue(other.mountBlob(smallDigest, "models/tiny"));
      assertTrue(other.hasBlob(smallDigest));
      assertFalse(other.mountBlob(Digest.of(new byte[] {4, 2}), "models/tiny"));
    }
  }

  @Test
  void hasBlobAndRepushSkips() throws IOException {
    assertTrue(client.hasBlob(bigDigest));
    assertFalse(client.hasBlob(Digest.of(new byte[] {1, 2, 3})));
    int[] opened = {0};
    client.putBlob(bigDigest, big.length, () -> {
      opened[0]++;
      return new ByteArrayInputStream(big);
    });
    assertEquals(0, opened[0]);
  }

  @Test
  void unknownTagAndBlob() throws IOException {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> client.fetchManifest("nope"));
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    assertEquals(registry.hostPort() + "/models/tiny: manifest 'nope' not found", e.getMessage());
    try (RegistryClient other = RegistryClient.open(Reference.parse(registry.hostPort() + "/no/such"), fastOptions())) {
      e = assertThrows(ModelCacheException.class, () -> other.fetchManifest("latest"));
      assertEquals(registry.hostPort() + "/no/such: manifest 'latest' not found", e.getMessage());
    }
    Digest missing = Digest.of(new byte[] {9});
    e = assertThrows(ModelCacheException.class, () -> client.fetchBlob(missing, 100));
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    assertEquals(registry.hostPort() + "/models/tiny: blob " + missing + " not found", e.getMessage());
    e = assertThrows(ModelCacheException.class, () -> client.openBlob(missing, 0, 10));
    assertEquals(registry.hostPort() + "/models/tiny: blob " + missing + " not found", e.getMessage());
  }

  @Test
  void digestMismatchOnPushIsRejected() throws IOException {
    byte[] data = "some bytes".getBytes(StandardCharsets.UTF_8);
    Digest wrong = Digest.of("other bytes".getBytes(StandardCharsets.UTF_8));
    ModelCacheException e = assertThrows(ModelCacheException.class,
        () -> client.putBlob(wrong, data.length, () -> new ByteArrayInputStream(data)));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    assertEquals(registry.hostPort() + "/models/tiny: blob " + wrong + " failed verification (got " + Digest.of(data)
        + ")", e.getMessage());
  }
}
