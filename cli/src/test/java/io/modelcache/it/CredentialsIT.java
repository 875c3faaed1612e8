package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Reference;
import io.modelcache.registry.Credentials;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's credential tests with the real launcher: a docker credential helper (a script on PATH,
 * found through {@code credsStore} in {@code $DOCKER_CONFIG/config.json}) against a registry with
 * htpasswd auth, and a password rotated under a live mount, in the registry and in what the helper
 * answers: the rest of the model reads exact, and after a daemon restart too.
 */
class CredentialsIT {
  @TempDir static Path tmp;

  @Test
  void helperCredentialsAndARotationUnderALiveMount() throws Exception {
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
    Path secret = tmp.resolve("secret");
    Files.writeString(secret, "pw-1");
    Path bin = Files.createDirectories(tmp.resolve("bin"));
    Path helper = bin.resolve("docker-credential-rotating");
    Files.writeString(helper, "#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat >/dev/null\n"
        + "printf '{\"ServerURL\":\"x\",\"Username\":\"alice\",\"Secret\":\"%s\"}' \"$(cat '" + secret + "')\"\n");
    Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwx------"));
    Path dockerDir = Files.createDirectories(tmp.resolve("docker"));
    Files.writeString(dockerDir.resolve("config.json"), "{\"credsStore\":\"rotating\"}");
    Map<String, String> env = Map.of("DOCKER_CONFIG", dockerDir.toString(), "PATH", bin + ":" + System.getenv("PATH"));

    try (RegistryHarness registry = RegistryHarness.startWithBasicAuth(tmp.resolve("registry"), "alice", "pw-1")) {
      String host = registry.hostPort();
      String ref = host + "/models/private:v1";
      Path model = tmp.resolve("model");
      SyntheticModel.generate(model, new SyntheticModel.Spec(6L << 20, 3, "BF16", 6, 33));
      Map<String, String> sha = PushedModel.shas(model);

      Cli.Result noHelper = Cli.run(Map.of("DOCKER_CONFIG", dockerDir.toString(), "PATH", "/usr/bin:/bin"), null, 60,
          "push", model.toString(), ref);
      assertEquals("modelcache: " + host + ": credential helper docker-credential-rotating not found on PATH\n",
          noHelper.err());
      assertEquals(4, noHelper.exit());
      Cli.Result pushed = Cli.run(env, null, 180, "push", model.toString(), ref);
      assertEquals(0, pushed.exit(), pushed.err());

      ModelArtifact art;
      try (RegistryClient c = RegistryClient.open(Reference.parse(ref), RegistryOptions.defaults(),
          new Credentials("alice", "pw-1"))) {
        art = ModelReader.read(c, "v1");
      }
      List<ModelFile> shards = art.files().stream().filter(f -> f.path().endsWith(".safetensors")).toList();
      assertEquals(3, shards.size());

      Path home = tmp.resolve("home");
      Path cfg = Path.of(DaemonProcess.noPrefetchConfig(tmp));
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      try (DaemonProcess d = new DaemonProcess(home, "--config", cfg.toString(), "--chunk-size", "256K").env(env).start()) {
        Cli.ok("mount", "--home", home.toString(), ref, mp.toString());
        for (ModelFile f : art.files()) {
          if (!shards.contains(f)) {
            assertEquals(sha.get(f.path()), LazyMountIT.sha256(mp.resolve(f.path())), f.path());
          }
        }
        assertEquals(sha.get(shards.get(0).path()), LazyMountIT.sha256(mp.resolve(shards.get(0).path())));

        rotate(registry, secret, "pw-2"); // the daemon still holds pw-1
        assertEquals(sha.get(shards.get(1).path()), LazyMountIT.sha256(mp.resolve(shards.get(1).path())),
            "read after the rotation:\n" + d.log());
        String reread = host + ": registry refused the credentials; using the ones its credential source has now";
        assertTrue(d.log().contains(reread), "no '" + reread + "' in:\n" + d.log());
        d.stop();
        assertFalse(d.log().contains("pw-1") || d.log().contains("pw-2"), "credentials in the log:\n" + d.log());
      }

      rotate(registry, secret, "pw-3"); // while the daemon is down
      try (DaemonProcess d = new DaemonProcess(home, "--config", cfg.toString(), "--chunk-size", "256K").env(env).start()) {
        String ls = Cli.ok("ls", "--home", home.toString(), "--json").out();
        assertTrue(ls.contains(art.manifest().digest().toString()) && ls.contains(mp.toString()), ls);
        assertEquals(sha.get(shards.get(2).path()), LazyMountIT.sha256(mp.resolve(shards.get(2).path())),
            "read after the restart:\n" + d.log());
        assertEquals(sha, PushedModel.shas(mp));
        Cli.ok("umount", "--home", home.toString(), mp.toString());
        assertFalse(d.log().contains("pw-3"), d.log());
      }
    }
  }

  private static void rotate(RegistryHarness registry, Path secret, String password) throws Exception {
    registry.changePassword(password);
    registry.restart(); // it re-reads htpasswd by mtime too; a restart makes the change certain at once
    Files.writeString(secret, password);
  }
}
