package io.modelcache.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.testkit.FaultPlan.Kind;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The fault proxy in front of a real docker-registry does exactly what its plan says, and nothing else. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(60)
class FaultProxyIT {
  @TempDir static Path tmp;
  RegistryHarness registry;
  static final byte[] BLOB = new byte[300_000];
  static final Digest D;
  byte[] manifest;

  static {
    new Random(17).nextBytes(BLOB);
    D = Digest.of(BLOB);
  }

  @BeforeAll
  void start() throws IOException {
    registry = RegistryHarness.start(tmp.resolve("reg"));
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/t/faults"),
        RegistryOptions.defaults().withDockerConfig(tmp.resolve("none.json")))) {
      c.putBlob(D, BLOB.length, () -> new ByteArrayInputStream(BLOB));
      Digest empty = Digest.of("{}".getBytes(StandardCharsets.UTF_8));
      c.putBlob(empty, 2, () -> new ByteArrayInputStream("{}".getBytes(StandardCharsets.UTF_8)));
      manifest = ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"mediaType\":\""
          + MediaTypes.OCI_EMPTY + "\",\"digest\":\"" + empty + "\",\"size\":2},\"layers\":[{\"mediaType\":"
          + "\"application/octet-stream\",\"digest\":\"" + D + "\",\"size\":" + BLOB.length + "}]}")
          .getBytes(StandardCharsets.UTF_8);
      c.putManifest("v1", manifest, MediaTypes.OCI_MANIFEST);
    }
  }

  @AfterAll
  void stop() {
    if (registry != null) {
      registry.close();
    }
  }

  /** One request on a fresh connection: what came back before the end (or the failure). */
  record Raw(int status, long contentLength, byte[] body, IOException failure) {}

  static Raw get(FaultProxy p, String method, String path, int soTimeoutMs) throws IOException {
    try (Socket s = new Socket()) {
      s.setSoTimeout(soTimeoutMs);
      try {
        s.connect(new InetSocketAddress("127.0.0.1", Integer.parseInt(p.hostPort().split(":")[1])), 5000);
        s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nHost: " + p.hostPort()
            + "\r\nAccept: " + MediaTypes.OCI_MANIFEST + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      } catch (IOException e) {
        return new Raw(-1, -1, new byte[0], e); // reset while connecting or before the request was sent (an outage)
      }
      InputStream in = s.getInputStream();
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      IOException failure = null;
      byte[] buf = new byte[8192];
      try {
        for (int r; (r = in.read(buf)) >= 0; ) {
          all.write(buf, 0, r);
        }
      } catch (SocketTimeoutException e) {
        throw e;
      } catch (IOException e) {
        failure = e;
      }
      byte[] b = all.toByteArray();
      String text = new String(b, StandardCharsets.ISO_8859_1);
      int end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        return new Raw(-1, -1, new byte[0], failure);
      }
      int status = Integer.parseInt(text.substring(9, 12));
      long len = -1;
      for (String h : text.substring(0, end).split("\r\n")) {
        if (h.toLowerCase().startsWith("content-length:")) {
          len = Long.parseLong(h.substring(15).trim());
        }
      }
      return new Raw(status, len, java.util.Arrays.copyOfRange(b, end + 4, b.length), failure);
    }
  }

  String blobPath() {
    return "/v2/t/faults/blobs/" + D;
  }

  @Test
  void withoutFaultsEveryRequestPassesExactly() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(1));
        RegistryClient c = RegistryClient.open(Reference.parse(p.hostPort() + "/t/faults"),
            RegistryOptions.defaults().withDockerConfig(tmp.resolve("none.json")))) {
      for (int i = 0; i < 3; i++) { // one keep-alive connection for several requests
        assertArrayEquals(BLOB, c.fetchBlob(D, 1 << 20));
      }
      assertArrayEquals(manifest, c.fetchManifest("v1").bytes());
      assertTrue(c.hasBlob(D));
      try (InputStream in = c.openBlob(D, 1000, 5000)) {
        assertArrayEquals(java.util.Arrays.copyOfRange(BLOB, 1000, 6000), in.readAllBytes());
      }
      assertEquals(4, p.decided(), "three whole GETs and one ranged GET of the blob");
      for (Kind k : Kind.values()) {
        assertEquals(0, k == Kind.NONE ? 0 : p.injected(k), k.name());
      }
    }
  }

  @Test
  void serverErrorsAnswer503WithoutAskingTheRegistry() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(2).withServerErrors(1))) {
      long before = registry.blobBytesServed(D);
      Raw r = get(p, "GET", blobPath(), 10_000);
      assertEquals(503, r.status());
      assertNull(r.failure());
      assertTrue(new String(r.body(), StandardCharsets.UTF_8).contains("UNAVAILABLE"));
      assertEquals(1, p.injected(Kind.SERVER_ERROR));
      assertEquals(before, registry.blobBytesServed(D));
    }
  }

  @Test
  void flipsChangeExactlyOneBitOfTheBody() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(3).withFlips(1))) {
      for (int i = 0; i < 5; i++) {
        Raw r = get(p, "GET", blobPath(), 10_000);
        assertEquals(200, r.status());
        assertNull(r.failure());
        assertEquals(BLOB.length, r.body().length);
        List<Integer> diffs = new ArrayList<>();
        for (int k = 0; k < BLOB.length; k++) {
          if (BLOB[k] != r.body()[k]) {
            diffs.add(k);
          }
        }
        assertEquals(1, diffs.size(), "one byte differs: " + diffs);
        int x = (BLOB[diffs.get(0)] ^ r.body()[diffs.get(0)]) & 0xff;
        assertEquals(1, Integer.bitCount(x), "one bit of it");
        assertEquals(p.events().get(i).split(" ")[0], String.valueOf(i));
      }
      assertEquals(5, p.injected(Kind.FLIP));
    }
  }

  @Test
  void truncationsEndTheBodyEarlyWithAFin() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(4).withTruncations(1))) {
      Raw r = get(p, "GET", blobPath(), 10_000);
      assertEquals(200, r.status());
      assertEquals(BLOB.length, r.contentLength());
      assertNull(r.failure(), "a clean end of stream");
      assertTrue(r.body().length < BLOB.length, r.body().length + " bytes");
      long at = FaultPlan.seeded(4).withTruncations(1).decide(0).offsetIn(BLOB.length);
      assertEquals(at, r.body().length);
      assertArrayEquals(java.util.Arrays.copyOf(BLOB, r.body().length), r.body());
    }
  }

  @Test
  void resetsBreakTheConnectionMidBody() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(5).withResets(1))) {
      Raw r = get(p, "GET", blobPath(), 10_000);
      assertNotNull(r.failure(), "a reset, not a clean end");
      assertTrue(r.body().length < BLOB.length);
      assertEquals(1, p.injected(Kind.RESET));
    }
  }

  @Test
  void slowStartsHoldTheResponseHeadThenSendEveryByte() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(),
        FaultPlan.seeded(6).withSlowStarts(1, Duration.ofSeconds(3)))) {
      assertThrows(SocketTimeoutException.class, () -> get(p, "GET", blobPath(), 300));
      Raw r = get(p, "GET", blobPath(), 20_000);
      assertEquals(200, r.status());
      assertArrayEquals(BLOB, r.body());
      assertEquals(2, p.injected(Kind.SLOW_START));
    }
  }

  @Test
  void onlyTheChosenRequestsAreFaulted() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(7).withFlips(1))) {
      Raw m = get(p, "GET", "/v2/t/faults/manifests/v1", 10_000);
      assertEquals(200, m.status());
      assertArrayEquals(manifest, m.body(), "manifests are not blob GETs");
      Raw head = get(p, "HEAD", blobPath(), 10_000);
      assertEquals(200, head.status());
      assertEquals(0, p.decided());
      p.plan(FaultPlan.seeded(7).withFlips(1).onlyFor(r -> r.path().contains("/manifests/")));
      Raw m2 = get(p, "GET", "/v2/t/faults/manifests/v1", 10_000);
      assertEquals(manifest.length, m2.body().length);
      assertTrue(!java.util.Arrays.equals(manifest, m2.body()), "now manifests are the target");
      assertArrayEquals(BLOB, get(p, "GET", blobPath(), 10_000).body());
    }
  }

  @Test
  void anOutageResetsEveryConnectionUntilItEnds() throws IOException {
    try (FaultProxy p = FaultProxy.start(registry.hostPort(), FaultPlan.seeded(8))) {
      p.outage(true);
      Raw r = get(p, "GET", blobPath(), 10_000);
      assertEquals(-1, r.status(), "no response at all");
      assertTrue(p.outageRefusals() >= 1);
      p.outage(false);
      assertArrayEquals(BLOB, get(p, "GET", blobPath(), 10_000).body());
    }
  }

  @Test
  void theSameSeedFaultsTheSameRequests() throws IOException {
    List<List<String>> runs = new ArrayList<>();
    for (int run = 0; run < 2; run++) {
      try (FaultProxy p = FaultProxy.start(registry.hostPort(),
          FaultPlan.seeded(99).withServerErrors(0.3).withFlips(0.3))) {
        for (int i = 0; i < 20; i++) {
          get(p, "GET", blobPath(), 10_000);
        }
        runs.add(p.events());
        assertEquals(p.events().size(), p.injected(Kind.SERVER_ERROR) + p.injected(Kind.FLIP));
      }
    }
    assertEquals(runs.get(0), runs.get(1));
    assertTrue(!runs.get(0).isEmpty());
  }
}
