package io.modelcache.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryHarnessIT {
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private static HttpResponse<byte[]> send(HttpRequest.Builder b) throws Exception {
    return HTTP.send(b.timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  @Test
  void servesBlobsAndCountsBytes(@TempDir Path dir) throws Exception {
    try (RegistryHarness r = RegistryHarness.start(dir)) {
      byte[] blob = "hello harness".getBytes(StandardCharsets.UTF_8);
      Digest d = Digest.of(blob);
      String base = "http://" + r.hostPort() + "/v2/t/h/blobs/";
      HttpResponse<byte[]> post = send(HttpRequest.newBuilder(URI.create(base + "uploads/"))
          .POST(HttpRequest.BodyPublishers.noBody()));
      assertEquals(202, post.statusCode());
      String loc = post.headers().firstValue("Location").orElseThrow();
      URI put = URI.create(base).resolve(loc + (loc.contains("?") ? "&" : "?") + "digest=" + d);
      assertEquals(201, send(HttpRequest.newBuilder(put).PUT(HttpRequest.BodyPublishers.ofByteArray(blob))
          .header("Content-Type", "application/octet-stream")).statusCode());
      assertTrue(Files.isRegularFile(r.blobDataPath(d)));

      HttpResponse<byte[]> get = send(HttpRequest.newBuilder(URI.create(base + d)));
      assertEquals(200, get.statusCode());
      send(HttpRequest.newBuilder(URI.create(base + d)));
      assertEquals(2L * blob.length, r.blobBytesServed(d));
      assertTrue(r.accessLog().stream().anyMatch(e -> e.method().equals("PUT") && e.status() == 201));

      r.stop();
      assertFalse(r.isRunning());
      r.restart();
      assertEquals(200, send(HttpRequest.newBuilder(URI.create(base + d))).statusCode());
    }
  }

  @Test
  void basicAuth(@TempDir Path dir) throws Exception {
    try (RegistryHarness r = RegistryHarness.startWithBasicAuth(dir, "alice", "s3cret")) {
      URI v2 = URI.create("http://" + r.hostPort() + "/v2/");
      assertEquals(401, send(HttpRequest.newBuilder(v2)).statusCode());
      String ok = Base64.getEncoder().encodeToString("alice:s3cret".getBytes(StandardCharsets.UTF_8));
      assertEquals(200, send(HttpRequest.newBuilder(v2).header("Authorization", "Basic " + ok)).statusCode());
    }
  }
}
