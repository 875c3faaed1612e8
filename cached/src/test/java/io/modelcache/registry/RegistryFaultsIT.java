package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class RegistryFaultsIT {
  @TempDir Path dir;
  final List<Duration> sleeps = new ArrayList<>();
  static final byte[] BLOB = new byte[50_000];
  static final Digest D;

  static {
    new Random(5).nextBytes(BLOB);
    D = Digest.of(BLOB);
  }

  RegistryOptions options() {
    return RegistryOptions.defaults().withDockerConfig(dir.resolve("none.json"))
        .withTimeouts(Duration.ofSeconds(2), Duration.ofMillis(400), Duration.ofMillis(400))
        .withRetries(3, Duration.ofMillis(10), Duration.ofMillis(40)).withSleeper(sleeps::add);
  }

  RegistryClient client(ScriptedServer s) throws IOException {
    return RegistryClient.open(Reference.parse(s.hostPort() + "/f/m"), options());
  }

  static String ok(long len) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + len + "\r\n\r\n";
  }

  @Test
  void retriesServerErrorsThenSucceeds() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> {
      if (n <= 2) {
        ScriptedServer.write(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", null);
      } else {
        ScriptedServer.write(out, ok(BLOB.length), BLOB);
      }
    }); RegistryClient c = client(s)) {
      assertArrayEquals(BLOB, c.fetchBlob(D, 1 << 20));
      assertEquals(3, s.requests.size());
      assertEquals(2, sleeps.size());
    }
  }

  @Test
  void serverErrorsExhaustRetries() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) ->
        ScriptedServer.write(out, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", null));
        RegistryClient c = client(s)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(D, 1 << 20));
      assertEquals(ModelCacheException.Kind.UNREACHABLE, e.kind());
      assertEquals(s.hostPort() + ": registry error (502 Bad Gateway)", e.getMessage());
      assertEquals(3, s.requests.size());
    }
  }

  @Test
  void clientErrorsAreNotRetried() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> ScriptedServer.write(out,
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n",
        "{\"errors\":[{\"code\":\"NAME_INVALID\"}]}\n\n\n".getBytes()));
        RegistryClient c = client(s)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
      assertEquals(ModelCacheException.Kind.IO, e.kind());
      assertEquals(s.hostPort() + "/f/m: unexpected response for manifest 'v1' (400 Bad Request, NAME_INVALID)",
          e.getMessage());
      assertEquals(1, s.requests.size());
      assertTrue(sleeps.isEmpty());
    }
  }

  @Test
  void firstByteTimeout() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> {
      try {
        Thread.sleep(3000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }); RegistryClient c = client(s)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
      assertEquals(ModelCacheException.Kind.UNREACHABLE, e.kind());
      assertEquals(s.hostPort() + ": registry timed out (no response within 400ms)", e.getMessage());
      // each timeout costs the whole first-byte timeout: tried twice, not maxAttempts (3) times
      assertEquals(Retries.MAX_TIMEOUTS, s.requests.size());
      assertEquals(1, sleeps.size());
    }
  }

  @Test
  void bodyCutShortFailsTheStreamAndIsRetriedForWholeFetches() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> {
      if (n == 1 || n == 2) {
        ScriptedServer.write(out, ok(BLOB.length), Arrays.copyOf(BLOB, 100));
      } else {
        ScriptedServer.write(out, ok(BLOB.length), BLOB);
      }
    }); RegistryClient c = client(s)) {
      try (InputStream in = c.openBlob(D, 0, -1)) {
        IOException e = assertThrows(IOException.class, in::readAllBytes);
        assertEquals(s.hostPort() + "/f/m: blob " + D + " read failed (connection closed after 100 body bytes)",
            e.getMessage());
      }
      assertArrayEquals(BLOB, c.fetchBlob(D, 1 << 20));
      assertEquals(3, s.requests.size());
    }
  }

  @Test
  void stalledBodyHitsTheIdleTimeout() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> {
      ScriptedServer.write(out, ok(BLOB.length), Arrays.copyOf(BLOB, 100));
      try {
        Thread.sleep(3000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }); RegistryClient c = client(s)) {
      try (InputStream in = c.openBlob(D, 0, 1000)) {
        IOException e = assertThrows(IOException.class, in::readAllBytes);
        assertEquals(s.hostPort() + "/f/m: blob " + D + " read failed (no data for 400ms)", e.getMessage());
      }
    }
  }

  @Test
  void rangeIgnoredFallsBackToSkipping() throws IOException {
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> ScriptedServer.write(out, ok(BLOB.length), BLOB));
        RegistryClient c = client(s)) {
      try (InputStream in = c.openBlob(D, 12_345, 20_000)) {
        assertArrayEquals(Arrays.copyOfRange(BLOB, 12_345, 32_345), in.readAllBytes());
      }
      try (InputStream in = c.openBlob(D, 49_000, -1)) {
        assertArrayEquals(Arrays.copyOfRange(BLOB, 49_000, BLOB.length), in.readAllBytes());
      }
      assertTrue(s.requests.get(0).contains("Range: bytes=12345-32344\r\n"), s.requests.get(0));
      assertTrue(s.requests.get(1).contains("Range: bytes=49000-\r\n"), s.requests.get(1));
    }
  }

  @Test
  void ipv6LoopbackRegistry() throws IOException {
    com.sun.net.httpserver.HttpServer server;
    try {
      server = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("::1", 0), 10);
    } catch (IOException noIpv6) {
      org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback here");
      return;
    }
    server.createContext("/v2/", ex -> {
      ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
      ex.sendResponseHeaders(200, BLOB.length);
      ex.getResponseBody().write(BLOB);
      ex.close();
    });
    server.start();
    try (RegistryClient c = RegistryClient.open(
        Reference.parse("[::1]:" + server.getAddress().getPort() + "/f/m"), options())) {
      assertArrayEquals(BLOB, c.fetchBlob(D, 1 << 20));
    } finally {
      server.stop(0);
    }
  }

  @Test
  void manifestByDigestIsVerified() throws IOException {
    byte[] m = "{\"schemaVersion\":2}".getBytes();
    Digest asked = Digest.of("something else".getBytes());
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> ScriptedServer.write(out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: " + m.length
            + "\r\n\r\n", m));
        RegistryClient c = client(s)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest(asked.toString()));
      assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
      assertEquals(s.hostPort() + "/f/m: manifest " + asked + " failed verification (got " + Digest.of(m) + ")",
          e.getMessage());
      assertEquals("application/vnd.oci.image.manifest.v1+json", c.fetchManifest("tag").mediaType());
      assertTrue(s.requests.get(0).contains("Accept: application/vnd.oci.image.manifest.v1+json, "), s.requests.get(0));
    }
  }

  @Test
  void digestMismatchOfAWholeBlob() throws IOException {
    byte[] bad = BLOB.clone();
    bad[7] ^= 1;
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> ScriptedServer.write(out, ok(bad.length), bad));
        RegistryClient c = client(s)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(D, 1 << 20));
      assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
      assertEquals(s.hostPort() + "/f/m: blob " + D + " failed verification (got " + Digest.of(bad) + ")",
          e.getMessage());
    }
  }
}
