package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** Operator commands when the registry goes away: failed reads show in status; warming fails in one line. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OperatorFaultsIT {
  @TempDir static Path tmp;
  RegistryHarness registry;
  String ref;
  Path src;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    registry = RegistryHarness.start(tmp.resolve("registry"));
    ref = registry.hostPort() + "/models/ops-faults:v1";
    src = tmp.resolve("src");
    SyntheticModel.generate(src, new SyntheticModel.Spec(8L << 20, 1, "BF16", 4, 21));
    Cli.ok("push", src.toString(), ref);
  }

  @AfterAll
  void tearDown() {
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void failedReadsShowInStatusAndWarmingFailsInOneLine() throws Exception {
    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--config", DaemonProcess.noPrefetchConfig(tmp),
        "--chunk-size", "256K", "--cache-size", "1G",
        "--fetch-timeout", "5s").start()) {
      String home = d.home.toString();
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      Cli.ok("mount", "--home", home, ref, mp.toString());
      Path weights;
      try (Stream<Path> s = Files.list(src)) {
        weights = s.filter(p -> p.toString().endsWith(".safetensors")).findFirst().orElseThrow();
      }
      registry.stop();
      try {
        Path f = mp.resolve(weights.getFileName().toString());
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> CompletableFuture.supplyAsync(() -> {
              try {
                return Files.readAllBytes(f);
              } catch (IOException io) {
                throw new java.io.UncheckedIOException(io);
              }
            }).get(120, TimeUnit.SECONDS));
        assertTrue(e.getCause().getCause() instanceof IOException, e.toString());

        JsonNode m = new ObjectMapper().readTree(Cli.ok("status", "--json", "--home", home).out()).path("mounts").get(0);
        assertTrue(m.path("readErrors").asLong() >= 1, m.toString());
        assertTrue(m.path("lastError").asText().matches("read failed with EIO at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"),
            m.toString());
        String text = Cli.ok("status", "--home", home).out();
        assertTrue(text.contains("\n    last error: read failed with EIO at "), text);

        Cli.Result pull = Cli.run(120, "pull", "--home", home, ref);
        assertTrue(pull.exit() != 0, pull.toString());
        assertEquals(1, pull.errLine().lines().count(), pull.err());
        assertTrue(pull.errLine().startsWith("modelcache: ") && pull.errLine().contains(registry.hostPort()),
            pull.errLine());
        assertEquals("", pull.out());
      } finally {
        registry.restart();
      }
      Cli.ok("umount", "--home", home, mp.toString());
    }
  }

  @Test
  void pullOfAModelWhoseRegistryBytesAreCorruptFailsVerificationInOneLine() throws Exception {
    String bad = registry.hostPort() + "/models/ops-corrupt:v1";
    Path badSrc = tmp.resolve("src-corrupt");
    SyntheticModel.generate(badSrc, new SyntheticModel.Spec(4L << 20, 1, "BF16", 2, 22));
    Cli.ok("push", badSrc.toString(), bad);
    ModelArtifact art;
    try (RegistryClient c = RegistryClient.open(
        Reference.parse(bad), RegistryOptions.defaults())) {
      art = ModelReader.read(c, "v1");
    }
    ModelFile big = art.files().stream()
        .max(Comparator.comparingLong(ModelFile::size)).orElseThrow();
    Path data = registry.blobDataPath(big.layer().digest());
    byte[] bytes = Files.readAllBytes(data);
    bytes[bytes.length / 2] ^= 0x5a;
    Files.write(data, bytes);

    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home-corrupt"), "--chunk-size", "256K",
        "--cache-size", "1G").start()) {
      Cli.Result r = Cli.run(120, "pull", "--home", d.home.toString(), bad);
      assertEquals(8, r.exit(), r.toString());
      assertEquals(1, r.errLine().lines().count(), r.err());
      assertTrue(r.errLine().startsWith("modelcache: warming " + bad + " failed: " + big.path() + ": "), r.errLine());
      assertTrue(r.errLine().contains(big.layer().digest().toString()), r.errLine());
      JsonNode s = new ObjectMapper().readTree(Cli.ok("status", "--json", "--home", d.home.toString()).out());
      assertTrue(s.path("cache").path("verifyFailures").asLong() >= 1, s.toString());
    }
  }
}
