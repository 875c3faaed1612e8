package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A 403 for valid but no longer authorised credentials: read the source again, retry once, else one line. */
class CredentialRefusalIT {
  private static final byte[] BLOB = "blob behind a 403".getBytes(StandardCharsets.UTF_8);
  @TempDir Path dir;

  private static ScriptedServer server() throws Exception {
    String good = new Credentials("carol", "new").basicHeader();
    String old = new Credentials("carol", "old").basicHeader();
    return new ScriptedServer((n, head, out, sock) -> {
      if (head.contains("Authorization: " + good)) {
        ScriptedServer.write(out, "HTTP/1.1 200 OK\r\nContent-Length: " + BLOB.length + "\r\n\r\n", BLOB);
      } else if (head.contains("Authorization: " + old)) {
        ScriptedServer.write(out, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", null);
      } else {
        ScriptedServer.write(out, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"t\"\r\n"
            + "Content-Length: 0\r\n\r\n", null);
      }
    });
  }

  @Test
  void forbiddenRereadsTheDockerConfigAndRetriesWithWhatItSaysNow() throws Exception {
    Path cfg = dir.resolve("config.json");
    try (ScriptedServer s = server()) {
      DockerConfig.store(cfg, s.hostPort(), "carol", "old");
      RegistryOptions o = RegistryOptions.defaults().withDockerConfig(cfg).withRetries(1, Duration.ofMillis(1),
          Duration.ofMillis(1));
      try (RegistryClient c = RegistryClient.open(Reference.parse(s.hostPort() + "/r/m:v1"), o)) {
        ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(Digest.of(BLOB), 1 << 10));
        assertEquals(s.hostPort() + ": authentication failed for user 'carol' (403 Forbidden)", e.getMessage());
        assertEquals(ModelCacheException.Kind.AUTH, e.kind());
        int before = s.requests.size();
        DockerConfig.store(cfg, s.hostPort(), "carol", "new");
        assertArrayEquals(BLOB, c.fetchBlob(Digest.of(BLOB), 1 << 10));
        assertEquals(2, s.requests.size() - before, "one refused request with the old password, one retry with the new");
      }
    }
  }
}
