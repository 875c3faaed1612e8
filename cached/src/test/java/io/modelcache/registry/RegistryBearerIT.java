package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryBearerIT {
  @TempDir static Path dir;
  static RegistryHarness registry;

  @BeforeAll
  static void start() throws IOException {
    registry = RegistryHarness.start(dir.resolve("reg"));
  }

  @AfterAll
  static void stop() {
    registry.close();
  }

  static RegistryOptions options() {
    return RegistryOptions.defaults().withDockerConfig(dir.resolve("none.json"))
        .withRetries(2, Duration.ofMillis(5), Duration.ofMillis(5));
  }

  @Test
  void bearerPushAndPullWithCachedTokens() throws IOException {
    try (TokenFront front = new TokenFront(registry.hostPort(), "bob", "builder", false);
        RegistryClient c = RegistryClient.open(Reference.parse(front.hostPort() + "/team/model:v1"), options(),
            new Credentials("bob", "builder"))) {
      byte[] data = "bearer blob".getBytes(StandardCharsets.UTF_8);
      Digest d = Digest.of(data);
      c.putBlob(d, data.length, () -> new ByteArrayInputStream(data));
      byte[] m = ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"mediaType\":\""
          + MediaTypes.OCI_EMPTY + "\",\"digest\":\"" + d + "\",\"size\":" + data.length + "},\"layers\":[]}")
          .getBytes(StandardCharsets.UTF_8);
      Digest md = c.putManifest("v1", m, MediaTypes.OCI_MANIFEST);
      assertArrayEquals(m, c.fetchManifest("v1").bytes());
      assertArrayEquals(m, c.fetchManifest(md.toString()).bytes());
      assertArrayEquals(data, c.fetchBlob(d, 100));
      // One token for pull,push and one for pull, each reused for every later request.
      assertEquals(2, front.tokensIssued.get());
      assertTrue(front.tokenScopes.contains("service=front&scope=repository%3Ateam%2Fmodel%3Apull%2Cpush"),
          front.tokenScopes.toString());
      assertTrue(front.tokenScopes.contains("service=front&scope=repository%3Ateam%2Fmodel%3Apull"));
      RegistryClient.verifyLogin(front.hostPort(), new Credentials("bob", "builder"), options());
    }
  }

  @Test
  void bearerWrongPasswordAndAnonymous() throws IOException {
    try (TokenFront front = new TokenFront(registry.hostPort(), "bob", "builder", false)) {
      try (RegistryClient c = RegistryClient.open(Reference.parse(front.hostPort() + "/team/model:v1"), options(),
          new Credentials("bob", "wrong"))) {
        ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
        assertEquals(ModelCacheException.Kind.AUTH, e.kind());
        assertEquals(front.hostPort() + ": authentication failed for user 'bob' (401 Unauthorized)", e.getMessage());
      }
      try (RegistryClient c = RegistryClient.open(Reference.parse(front.hostPort() + "/team/model:v1"), options())) {
        ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
        assertEquals(front.hostPort() + ": authentication required; run 'modelcache login " + front.hostPort() + "'",
            e.getMessage());
      }
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> RegistryClient.verifyLogin(
          front.hostPort(), new Credentials("bob", "nope"), options()));
      assertEquals(front.hostPort() + ": authentication failed for user 'bob' (401 Unauthorized)", e.getMessage());
    }
  }

  @Test
  void redirectsToAnotherHostWithoutAuthorizationAndReasksWhenExpired() throws IOException {
    byte[] data = new byte[200_000];
    new Random(3).nextBytes(data);
    Digest d = Digest.of(data);
    try (RegistryClient direct = RegistryClient.open(Reference.parse(registry.hostPort() + "/team/redir"), options())) {
      direct.putBlob(d, data.length, () -> new ByteArrayInputStream(data));
    }
    try (TokenFront front = new TokenFront(registry.hostPort(), "bob", "builder", true);
        RegistryClient c = RegistryClient.open(Reference.parse(front.hostPort() + "/team/redir"), options(),
            new Credentials("bob", "builder"))) {
      assertArrayEquals(data, c.fetchBlob(d, 1 << 20));
      try (InputStream in = c.openBlob(d, 1000, 5000)) {
        assertArrayEquals(Arrays.copyOfRange(data, 1000, 6000), in.readAllBytes());
      }
      front.expiredRedirects.set(2);
      try (InputStream in = c.openBlob(d, 7, 70_000)) {
        assertArrayEquals(Arrays.copyOfRange(data, 7, 70_007), in.readAllBytes());
      }
      assertEquals(5, front.storeRequests.get());
      assertEquals(0, front.storeAuthHeaders.size(), "Authorization leaked to the redirect host");
    }
  }
}
