package io.modelcache.it;

import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** A synthetic model generated on disk, pushed with the real launcher, and read back as an artifact. */
record PushedModel(Path source, Map<String, String> sha, String ref, ModelArtifact artifact) {

  static PushedModel push(RegistryHarness registry, Path dir, String repoAndTag, SyntheticModel.Spec spec) throws Exception {
    SyntheticModel.generate(dir, spec);
    String ref = registry.hostPort() + "/" + repoAndTag;
    Cli.ok("push", dir.toString(), ref);
    Reference r = Reference.parse(ref);
    try (RegistryClient c = RegistryClient.open(r, RegistryOptions.defaults())) {
      return new PushedModel(dir, shas(dir), ref, ModelReader.read(c, r.tagOrDigest()));
    }
  }

  /** sha256 of every regular file under root, by relative path (a pull's partial dir excluded). */
  static Map<String, String> shas(Path root) throws Exception {
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.filter(Files::isRegularFile).filter(p -> !root.relativize(p).startsWith(".modelcache-partial")).toList()) {
        m.put(root.relativize(p).toString(), LazyMountIT.sha256(p));
      }
    }
    return m;
  }
}
