package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A credential helper answering Username {@code <token>}: the secret is an identity token, exchanged at
 * the registry's token service with the OAuth2 refresh-token POST (never sent as a password).
 */
class IdentityTokenIT {
  @TempDir Path dir;

  @Test
  void identityTokenFromAHelperIsExchangedForBearerTokens() throws Exception {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path helper = bin.resolve("docker-credential-idtok");
    Files.writeString(helper, "#!/bin/sh\ncat >/dev/null\nprintf '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"rt-42\"}'\n");
    Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwx------"));
    try (RegistryHarness registry = RegistryHarness.start(dir.resolve("reg"));
        TokenFront front = new TokenFront(registry.hostPort(), "nobody", "unused", false)) {
      Path cfg = dir.resolve("config.json");
      Files.writeString(cfg, "{\"credHelpers\":{\"" + front.hostPort() + "\":\"idtok\"}}");
      RegistryOptions o = RegistryOptions.defaults().withDockerConfig(cfg).withRetries(2, Duration.ofMillis(5),
          Duration.ofMillis(5));
      RegistryClient.CredentialSource src = () -> DockerConfig.load(cfg, bin + ":/usr/bin:/bin")
          .lookup(front.hostPort()).orElse(null);
      byte[] data = "pushed and pulled with an identity token".getBytes(StandardCharsets.UTF_8);
      Reference ref = Reference.parse(front.hostPort() + "/team/m:v1");
      front.refreshToken = "rt-42";
      try (RegistryClient c = RegistryClient.open(ref, o, src.read(), src)) {
        c.putBlob(Digest.of(data), data.length, () -> new ByteArrayInputStream(data));
        assertArrayEquals(data, c.fetchBlob(Digest.of(data), 1 << 10));
      }
      assertEquals(List.of(
          "grant_type=refresh_token&client_id=modelcache&refresh_token=***&service=front&scope=repository%3Ateam%2Fm%3Apull%2Cpush",
          "grant_type=refresh_token&client_id=modelcache&refresh_token=***&service=front&scope=repository%3Ateam%2Fm%3Apull"),
          front.refreshForms);

      front.refreshToken = "rt-other"; // the token service no longer takes it
      try (RegistryClient c = RegistryClient.open(ref, o, src.read(), src)) {
        ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(Digest.of(data), 1 << 10));
        assertEquals(front.hostPort() + ": authentication failed for user '<token>' (401 Unauthorized)", e.getMessage());
      }
    }
  }
}
