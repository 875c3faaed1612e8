package io.modelcache.cli;

import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelPuller;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache pull REF DIR}: the whole model, verified, in parallel, resumable. */
@Command(name = "pull", description = "Download a whole model into DIR, verified, in parallel and resumable.")
final class PullCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "REF")
  String ref;

  @Parameters(index = "1", paramLabel = "DIR")
  Path dir;

  @Option(names = {"-j", "--parallel"}, defaultValue = "4", description = "Files downloaded at once (default: ${DEFAULT-VALUE}).")
  int parallel;

  @Override
  public Integer call() throws Exception {
    Reference r = Reference.parse(ref);
    try (ArtifactSource src = Artifacts.openSource(r, registry.options())) {
      ModelArtifact art = ModelReader.read(src, r.tagOrDigest());
      ModelPuller.pull(src, art, dir, parallel, p -> {});
      System.out.println("pulled " + r + " (" + art.manifest().digest() + ") into " + dir + ": "
          + art.files().size() + " files, " + art.totalBytes() + " bytes");
    }
    return 0;
  }
}
