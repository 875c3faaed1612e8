package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryAuthIT {
  @TempDir static Path dir;
  static RegistryHarness registry;

  @BeforeAll
  static void start() throws IOException {
    registry = RegistryHarness.startWithBasicAuth(dir.resolve("reg"), "alice", "wonderland");
  }

  @AfterAll
  static void stop() {
    registry.close();
  }

  static RegistryOptions options(Path config) {
    return RegistryOptions.defaults().withDockerConfig(config).withRetries(2, Duration.ofMillis(5), Duration.ofMillis(5));
  }

  @Test
  void credentialsFromDockerConfig() throws IOException {
    Path cfg = dir.resolve("good/config.json");
    DockerConfig.store(cfg, registry.hostPort(), "alice", "wonderland");
    byte[] data = "authenticated bytes".getBytes(StandardCharsets.UTF_8);
    Digest d = Digest.of(data);
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/sec/m:v"), options(cfg))) {
      c.putBlob(d, data.length, () -> new ByteArrayInputStream(data));
      assertArrayEquals(data, c.fetchBlob(d, 100));
      assertTrue(c.hasBlob(d));
    }
    RegistryClient.verifyLogin(registry.hostPort(), new Credentials("alice", "wonderland"), options(cfg));
  }

  @Test
  void wrongPassword() throws IOException {
    Path cfg = dir.resolve("bad/config.json");
    DockerConfig.store(cfg, registry.hostPort(), "alice", "nope");
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/sec/m:v"), options(cfg))) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v"));
      assertEquals(ModelCacheException.Kind.AUTH, e.kind());
      assertEquals(registry.hostPort() + ": authentication failed for user 'alice' (401 Unauthorized)", e.getMessage());
    }
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> RegistryClient.verifyLogin(
        registry.hostPort(), new Credentials("alice", "nope"), options(cfg)));
    assertEquals(registry.hostPort() + ": authentication failed for user 'alice' (401 Unauthorized)", e.getMessage());
  }

  @Test
  void noCredentials() throws IOException {
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/sec/m:v"),
        options(dir.resolve("none/config.json")))) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v"));
      assertEquals(ModelCacheException.Kind.AUTH, e.kind());
      assertEquals(registry.hostPort() + ": authentication required; run 'modelcache login " + registry.hostPort()
          + "'", e.getMessage());
    }
  }
}
