package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import io.modelcache.testkit.TestCa;
import io.modelcache.testkit.TinyProxy;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS through a real proxy's CONNECT tunnel, its refusal and the direct fallback, and a bad CA file. */
class ProxyTunnelIT {
  @TempDir Path dir;

  private static RegistryOptions options(String registry, URI proxy, Path ca) {
    return RegistryOptions.defaults().withPlainHttp(false).withDockerConfig(Path.of("/nonexistent/config.json"))
        .withRetries(2, Duration.ofMillis(5), Duration.ofMillis(20))
        .withNetwork(Network.DIRECT.withRoutes(Map.of(registry, new Network.Route(proxy, ca))));
  }

  @Test
  void connectTunnelAndItsRefusalFallsBackDirect() throws Exception {
    TestCa ca = TestCa.create(dir.resolve("ca"));
    byte[] blob = new byte[200_000];
    new Random(8).nextBytes(blob);
    Digest d = Digest.of(blob);
    try (RegistryHarness registry = RegistryHarness.startWithTls(dir.resolve("reg"), ca, null, null);
        TinyProxy refusing = TinyProxy.start(dir.resolve("refusing"), 443); // CONNECT to 443 only
        TinyProxy allowing = TinyProxy.start(dir.resolve("allowing"), registry.port())) {
      Reference ref = Reference.parse(registry.hostPort() + "/t/m:v1");
      try (RegistryClient c = RegistryClient.open(ref, options(registry.hostPort(), URI.create(allowing.url()), ca.caPem()))) {
        c.putBlob(d, blob.length, () -> new ByteArrayInputStream(blob));
        assertArrayEquals(blob, c.fetchBlob(d, 1 << 20));
      }
      assertTrue(allowing.requests().contains("CONNECT " + registry.hostPort() + " HTTP/1.1"), allowing.requests().toString());

      // This proxy refuses CONNECT to the registry's port (tinyproxy answers 403): direct after the budget.
      long before = RegistryStats.proxyFallbacks();
      try (RegistryClient c = RegistryClient.open(ref, options(registry.hostPort(), URI.create(refusing.url()), ca.caPem()))) {
        assertArrayEquals(blob, c.fetchBlob(d, 1 << 20));
        assertArrayEquals(blob, c.fetchBlob(d, 1 << 20));
      }
      assertEquals(before + 1, RegistryStats.proxyFallbacks());
      assertTrue(refusing.requests().contains("CONNECT " + registry.hostPort() + " HTTP/1.1"), refusing.requests().toString());
    }
  }

  @Test
  void aMissingCaFileIsOneLineNamingTheRegistry() throws Exception {
    Path missing = dir.resolve("nope.pem");
    try (RegistryClient c = RegistryClient.open(Reference.parse("127.0.0.1:9/t/m:v1"), options("127.0.0.1:9", null, missing))) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
      assertEquals("127.0.0.1:9: CA file " + missing + ": no such file", e.getMessage());
      assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    }
  }
}
