package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class RegistryOutageIT {
  @Test
  @Timeout(60)
  void stoppedRegistryIsUnreachableThenRecovers(@TempDir Path dir) throws IOException {
    List<Duration> sleeps = new ArrayList<>();
    RegistryOptions o = RegistryOptions.defaults().withDockerConfig(dir.resolve("none.json"))
        .withRetries(4, Duration.ofMillis(100), Duration.ofMillis(250)).withSleeper(sleeps::add);
    try (RegistryHarness r = RegistryHarness.start(dir.resolve("reg"));
        RegistryClient c = RegistryClient.open(Reference.parse(r.hostPort() + "/o/m:v"), o)) {
      byte[] data = "survives restarts".getBytes(StandardCharsets.UTF_8);
      Digest d = Digest.of(data);
      c.putBlob(d, data.length, () -> new ByteArrayInputStream(data));
      r.stop();
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchBlob(d, 100));
      assertEquals(ModelCacheException.Kind.UNREACHABLE, e.kind());
      assertEquals(r.hostPort() + ": registry unreachable (connection refused)", e.getMessage());
      assertEquals(3, sleeps.size(), "3 backoffs between 4 attempts");
      for (int i = 0; i < sleeps.size(); i++) {
        long cap = Math.min(250, 100L << i);
        long ms = sleeps.get(i).toMillis();
        assertEquals(true, ms >= cap / 2 && ms <= cap, "backoff " + i + " = " + ms);
      }
      r.restart();
      assertArrayEquals(data, c.fetchBlob(d, 100));
    }
  }
}
