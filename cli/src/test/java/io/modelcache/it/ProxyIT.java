package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.modelpack.ModelFile;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import io.modelcache.testkit.TinyProxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's proxy acceptance test: a real tinyproxy on 127.0.0.1 named by {@code registries[].proxy}
 * (as dfdaemon's proxy would be) carries the mount's blob requests; once it is stopped, the mount still
 * reads exact bytes straight from the registry, and the fallback is counted.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProxyIT {
  @TempDir static Path tmp;
  RegistryHarness registry;
  PushedModel model;

  @BeforeAll
  void setUp() throws Exception {
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
    registry = RegistryHarness.start(tmp.resolve("registry"));
    model = PushedModel.push(registry, tmp.resolve("model"), "models/proxied:v1",
        new SyntheticModel.Spec(6L << 20, 2, "BF16", 4, 14));
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  private Path config(String name, String proxyUrl) throws Exception {
    Path cfg = tmp.resolve(name + ".yaml");
    Files.writeString(cfg, "readAhead:\n  prefetch: false\n  backgroundFill: false\n"
        + "registries:\n  - host: " + registry.hostPort() + "\n    proxy: " + proxyUrl + "\n");
    return cfg;
  }

  private boolean proxied(TinyProxy proxy, ModelFile f) {
    String want = "GET http://" + registry.hostPort() + "/v2/models/proxied/blobs/" + f.layer().digest() + " ";
    return proxy.requests().stream().anyMatch(l -> l.startsWith(want));
  }

  @Test
  void mountReadsThroughTheProxyAndGoesDirectWhenItStops() throws Exception {
    Fuse.assumeAvailable();
    List<ModelFile> files = model.artifact().files();
    ModelFile last = files.stream().filter(f -> f.path().endsWith(".safetensors")).reduce((a, b) -> b).orElseThrow();
    try (TinyProxy proxy = TinyProxy.start(tmp.resolve("proxy-mount"));
        DaemonProcess d = new DaemonProcess(tmp.resolve("home-mount"), "--config",
            config("mount", proxy.url()).toString(), "--chunk-size", "256K").start()) {
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      Cli.ok("mount", "--home", d.home.toString(), model.ref(), mp.toString());
      try {
        for (ModelFile f : files) {
          if (f != last) {
            assertEquals(model.sha().get(f.path()), LazyMountIT.sha256(mp.resolve(f.path())), f.path());
            assertTrue(proxied(proxy, f), "no blob GET for " + f.path() + " in the proxy's log: " + proxy.requests());
          }
        }
        proxy.stop();
        assertEquals(model.sha().get(last.path()), LazyMountIT.sha256(mp.resolve(last.path())), last.path());
        assertEquals(1.0, Scrape.of(d.metricsPort()).value("modelcache_proxy_fallbacks_total", Map.of()));
        String warn = registry.hostPort() + ": proxy 127.0.0.1:" + proxy.port()
            + " failed (connection refused); going to the registry directly for 60 s";
        assertTrue(d.log().contains(warn), "no line '" + warn + "' in:\n" + d.log());
      } finally {
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());
      }
    }
  }

  @Test
  void clientCommandsUseTheConfigsProxyButNeverAnEnvironmentProxyForLoopback() throws Exception {
    try (TinyProxy proxy = TinyProxy.start(tmp.resolve("proxy-cli"))) {
      String digestLine = "Digest: " + model.artifact().manifest().digest();
      Files.writeString(tmp.resolve("empty.yaml"), "");
      Cli.Result viaEnv = Cli.run(Map.of("HTTP_PROXY", proxy.url(), "http_proxy", proxy.url()), null, 60,
          "inspect", "--config", tmp.resolve("empty.yaml").toString(), model.ref());
      assertEquals(0, viaEnv.exit(), viaEnv.err());
      assertTrue(viaEnv.out().contains(digestLine + "\n"), viaEnv.out());
      assertEquals(List.of(), proxy.requests());

      Cli.Result viaConfig = Cli.run(60, "inspect", "--config", config("cli", proxy.url()).toString(), model.ref());
      assertEquals(0, viaConfig.exit(), viaConfig.err());
      assertTrue(viaConfig.out().contains(digestLine + "\n"), viaConfig.out());
      String manifest = "GET http://" + registry.hostPort() + "/v2/models/proxied/manifests/v1 HTTP/1.1";
      assertTrue(proxy.requests().contains(manifest), manifest + " not in " + proxy.requests());
    }
  }

  private static int deadPort() throws java.io.IOException {
    try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void aClientCommandWhoseProxyAndRegistryBothRefusePrintsOneLineNamingBoth() throws Exception {
    String registryAt = "127.0.0.1:" + deadPort();
    String proxyAt = "127.0.0.1:" + deadPort();
    Path cfg = tmp.resolve("dead.yaml");
    Files.writeString(cfg, "registries:\n  - host: " + registryAt + "\n    proxy: http://" + proxyAt + "\n");
    Cli.Result r = Cli.run(120, "inspect", "--config", cfg.toString(), registryAt + "/models/x:v1");
    assertEquals(5, r.exit(), r.err());
    // one line: no proxy warning before the error (the switch is only announced once going direct worked)
    assertEquals("modelcache: " + registryAt + ": registry unreachable (connection refused), and proxy " + proxyAt
        + " failed first (connection refused)\n", r.err());
  }
}
