package io.modelcache.cli;

import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache push DIR REF}: packs DIR as a ModelPack artifact, one layer per file. */
@Command(name = "push", description = "Pack DIR as a ModelPack artifact (one layer per file) and push it to REF.")
final class PushCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "DIR", description = "The model directory to pack (safetensors, configs, tokenizer, an optional Modelfile).")
  Path dir;

  @Parameters(index = "1", paramLabel = "REF", description = "Where to push: host[:port]/repo:tag or oci:PATH:TAG.")
  String ref;

  @Option(names = "--tar", description = "Wrap each file in a tar layer instead of a raw layer.")
  boolean tar;

  @Option(names = "--name", description = "Model name in the config (default: the directory name).")
  String name;

  @Option(names = {"-j", "--parallel"}, defaultValue = "4", description = "Blobs uploaded at once (default: ${DEFAULT-VALUE}).")
  int parallel;

  @Option(names = "--hash-first", description = {
      "Hash every file before uploading it (two reads of each file), so blobs the registry already has are skipped.",
      "By default large files are read once, hashed while they upload, and sent even if the registry has them."})
  boolean hashFirst;

  @Override
  public Integer call() throws Exception {
    Reference r = Reference.parse(ref);
    if (r.tag() == null) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "push needs a tag: " + ref);
    }
    if (parallel < 1) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "-j/--parallel: must be at least 1, got " + parallel);
    }
    if (!Files.exists(dir)) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, dir + ": no such directory");
    }
    if (!Files.isDirectory(dir)) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, dir + ": not a directory");
    }
    try (ArtifactSink sink = registry.openSink(r)) {
      Digest d = ModelPusher.push(dir, sink, r.tag(), new PushOptions(tar, parallel, name).withHashFirst(hashFirst));
      System.out.println(d);
    }
    return 0;
  }
}
