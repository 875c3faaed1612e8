package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.config.Durations;
import io.modelcache.config.Sizes;
import io.modelcache.control.ControlClient;
import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelPuller;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PageCacheMode;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.trust.TrustGate;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code modelcache pull REF DIR}: the whole model, verified, in parallel, resumable.
 * {@code modelcache pull REF}: the daemon fetches and verifies the whole model into the node cache
 * (no mount), so later mounts read it locally.
 */
@Command(name = "pull", description = {
    "With DIR: download a whole model into DIR, verified, in parallel and resumable.",
    "Without DIR: warm the daemon's node cache with the whole model, verified, without mounting it."})
final class PullCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;
  @Mixin HomeOption home;

  @Parameters(index = "0", paramLabel = "REF", description = "A model reference: host[:port]/repo[:tag][@sha256:...] or oci:PATH[:TAG].")
  String ref;

  @Parameters(index = "1", paramLabel = "DIR", arity = "0..1", description = "The directory to download into; without it, the daemon's node cache is warmed instead.")
  Path dir;

  @Option(names = {"-j", "--parallel"}, defaultValue = "4", description = "Files downloaded at once (default: ${DEFAULT-VALUE}).")
  int parallel;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "6h",
      description = "Without DIR: how long to wait for the cache to hold the whole model (default: ${DEFAULT-VALUE}).")
  String timeout;

  @Option(names = "--page-cache", paramLabel = "auto|keep|bypass", defaultValue = "auto",
      description = "With DIR: keep the files in the page cache (for a loader started right after), bypass it"
          + " (O_DIRECT: staging for later), or auto: keep a model that fits in half of the available memory"
          + " (its cgroup limit included)"
          + " (default: ${DEFAULT-VALUE}).")
  String pageCache;

  @Override
  public Integer call() throws Exception {
    PageCacheMode mode = PageCacheMode.parse(pageCache);
    if (parallel < 1) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "-j/--parallel: must be at least 1, got " + parallel);
    }
    if (dir == null) {
      return warm();
    }
    Reference r = Reference.parse(ref);
    try (ArtifactSource src = registry.openSource(r)) {
      // The trust policy on the manifest digest before any blob of the model is fetched.
      TrustGate.Admission admission = TrustGate.admit(src, r, r.tagOrDigest(), ref, registry.settings().trustPolicy());
      ModelArtifact art = ModelReader.read(src, admission.target(r.tagOrDigest()));
      ModelPuller.pull(src, art, dir, parallel, p -> {}, mode);
      System.out.println("pulled " + r + " (" + art.manifest().digest() + ") into " + dir + ": "
          + art.files().size() + " files, " + art.totalBytes() + " bytes");
    }
    return 0;
  }

  private int warm() throws Exception {
    var limit = Durations.parse("timeout", timeout);
    ControlClient client = new ControlClient(home.resolve());
    ObjectNode req = ControlClient.request("warm").put("ref", ref);
    if (registry.plainHttpOverride() != null) {
      req.put("plainHttp", true);
    }
    JsonNode started = client.call(req);
    JsonNode done = WarmWait.await(client, started, Progress.forStdout("pull " + ref), limit);
    System.out.println(String.format(Locale.ROOT, "cached %s (%s): %d files, %s, verified, in %.1f s", ref,
        done.path("digest").asText(), done.path("files").asInt(), Sizes.format(done.path("totalBytes").asLong()),
        done.path("elapsedSeconds").asDouble()));
    return 0;
  }
}
