package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import io.modelcache.testkit.TestCa;
import io.modelcache.testkit.TinyProxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's private CA test: docker-registry serving HTTPS with a certificate from a CA the test made
 * with openssl. Without {@code registries[].ca} the one-line TLS error names the registry (exit 5);
 * with it, push, pull and a mount (also through a CONNECT tunnel of a real tinyproxy) read exact bytes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrivateCaIT {
  @TempDir static Path tmp;
  RegistryHarness registry;
  TestCa ca;
  String ref;
  Map<String, String> sha = new TreeMap<>();

  @BeforeAll
  void setUp() throws Exception {
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
    ca = TestCa.create(tmp.resolve("ca"));
    registry = RegistryHarness.startWithTls(tmp.resolve("registry"), ca, null, null);
    Path model = tmp.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(4L << 20, 2, "BF16", 4, 21));
    sha = PushedModel.shas(model);
    ref = registry.hostPort() + "/models/tls:v1";
    Cli.ok("push", "--config", config("push", true, null).toString(), model.toString(), ref);
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  /** A config naming the registry as HTTPS (it is on loopback), with or without the CA and a proxy. */
  private Path config(String name, boolean withCa, String proxy) throws Exception {
    Path cfg = tmp.resolve(name + ".yaml");
    Files.writeString(cfg, "registries:\n  - host: " + registry.hostPort() + "\n    plainHttp: false\n"
        + (withCa ? "    ca: " + ca.caPem() + "\n" : "") + (proxy != null ? "    proxy: " + proxy + "\n" : ""));
    return cfg;
  }

  @Test
  void withoutTheCaTheTlsErrorNamesTheRegistry() throws Exception {
    Cli.Result r = Cli.run(60, "inspect", "--config", config("no-ca", false, null).toString(), ref);
    assertEquals("modelcache: " + registry.hostPort() + ": registry unreachable (TLS certificate not trusted)\n", r.err());
    assertEquals(5, r.exit());
    Cli.Result p = Cli.run(60, "pull", "--config", config("no-ca", false, null).toString(), ref,
        tmp.resolve("pull-no-ca").toString());
    assertEquals(r.err(), p.err());
    assertEquals(5, p.exit());
  }

  @Test
  void withTheCaPullReadsExactBytes() throws Exception {
    Path out = tmp.resolve("pulled");
    Cli.ok("pull", "--config", config("pull", true, null).toString(), ref, out.toString());
    assertEquals(sha, PushedModel.shas(out));
  }

  @Test
  void withTheCaAMountThroughAConnectTunnelReadsExactBytes() throws Exception {
    Fuse.assumeAvailable();
    try (TinyProxy proxy = TinyProxy.start(tmp.resolve("proxy"), registry.port());
        DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--config",
            config("mount", true, proxy.url()).toString(), "--chunk-size", "256K").start()) {
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      Cli.ok("mount", "--home", d.home.toString(), ref, mp.toString());
      try {
        Map<String, String> mounted = new TreeMap<>();
        for (String rel : sha.keySet()) {
          mounted.put(rel, LazyMountIT.sha256(mp.resolve(rel)));
        }
        assertEquals(sha, mounted);
        String connect = "CONNECT " + registry.hostPort() + " HTTP/1.1";
        assertTrue(proxy.requests().contains(connect), connect + " not in " + proxy.requests());
        assertTrue(proxy.requests().stream().allMatch(l -> l.equals(connect)), proxy.requests().toString());
      } finally {
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());
      }
    }
  }
}
