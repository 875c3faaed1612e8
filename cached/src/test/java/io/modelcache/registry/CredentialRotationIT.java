package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client keeps working across a password rotation: on a refusal it reads its credential source (a
 * real credential helper here) again and retries; when the source has nothing any more, it holds
 * nothing and the refusal is the usual one line.
 */
class CredentialRotationIT {
  @TempDir Path dir;

  @Test
  void refusalRereadsTheHelperAndNothingIsKeptBeyondIt() throws Exception {
    Path secret = dir.resolve("secret");
    Files.writeString(secret, "pw-1");
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path helper = bin.resolve("docker-credential-rotating");
    Files.writeString(helper, "#!/bin/sh\ncat >/dev/null\n[ -s \"" + secret + "\" ] || { echo 'credentials not found'; exit 1; }\n"
        + "printf '{\"ServerURL\":\"x\",\"Username\":\"alice\",\"Secret\":\"%s\"}' \"$(cat \"" + secret + "\")\"\n");
    Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwx------"));
    try (RegistryHarness registry = RegistryHarness.startWithBasicAuth(dir.resolve("reg"), "alice", "pw-1")) {
      Path cfg = dir.resolve("docker/config.json");
      Files.createDirectories(cfg.getParent());
      Files.writeString(cfg, "{\"credHelpers\":{\"" + registry.hostPort() + "\":\"rotating\"}}");
      RegistryOptions o = RegistryOptions.defaults().withDockerConfig(cfg)
          .withRetries(3, Duration.ofMillis(20), Duration.ofMillis(200));
      byte[] a = "first blob, read before the rotation".getBytes(StandardCharsets.UTF_8);
      byte[] b = new byte[300_000];
      new java.util.Random(5).nextBytes(b);
      Reference ref = Reference.parse(registry.hostPort() + "/rot/m:v1");
      String path = System.getenv("PATH");
      try (RegistryClient c = RegistryClient.open(ref, o, DockerConfig.load(cfg, bin + ":" + path)
          .lookup(registry.hostPort()).orElseThrow(), () -> DockerConfig.load(cfg, bin + ":" + path)
          .lookup(registry.hostPort()).orElse(null))) {
        c.putBlob(Digest.of(a), a.length, () -> new ByteArrayInputStream(a));
        c.putBlob(Digest.of(b), b.length, () -> new ByteArrayInputStream(b));
        assertArrayEquals(a, c.fetchBlob(Digest.of(a), 1 << 20));

        registry.changePassword("pw-2");
        registry.restart();
        Files.writeString(secret, "pw-2");
        try (InputStream in = c.openBlob(Digest.of(b), 1000, 200_000)) {
          assertEquals(Digest.of(java.util.Arrays.copyOfRange(b, 1000, 201_000)), Digest.of(in.readAllBytes()));
        }

        registry.changePassword("pw-3");
        registry.restart();
        Files.writeString(secret, ""); // the source has no credentials any more
        ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(Digest.of(a), 1 << 20));
        assertEquals(registry.hostPort() + ": authentication required; run 'modelcache login " + registry.hostPort()
            + "'", e.getMessage());
        assertEquals(ModelCacheException.Kind.AUTH, e.kind());
      }
    }
  }

  @Test
  void aPasswordRotatedWithoutARegistryRestartIsPickedUpOnTheRefusal() throws Exception {
    Path cfg = dir.resolve("docker/config.json");
    try (RegistryHarness registry = RegistryHarness.startWithBasicAuth(dir.resolve("reg-live"), "bob", "old-pw")) {
      DockerConfig.store(cfg, registry.hostPort(), "bob", "old-pw");
      RegistryOptions o = RegistryOptions.defaults().withDockerConfig(cfg)
          .withRetries(2, Duration.ofMillis(5), Duration.ofMillis(5));
      byte[] a = "before".getBytes(StandardCharsets.UTF_8);
      byte[] b = "after the rotation".getBytes(StandardCharsets.UTF_8);
      try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/live/m:v1"), o)) {
        c.putBlob(Digest.of(a), a.length, () -> new ByteArrayInputStream(a));
        c.putBlob(Digest.of(b), b.length, () -> new ByteArrayInputStream(b));
        assertArrayEquals(a, c.fetchBlob(Digest.of(a), 1 << 10));
        registry.changePassword("new-pw");
        registry.awaitRefused("old-pw"); // the registry took the new htpasswd; the client still holds old-pw
        DockerConfig.store(cfg, registry.hostPort(), "bob", "new-pw");
        assertArrayEquals(b, c.fetchBlob(Digest.of(b), 1 << 10));
      }
    }
  }
}
