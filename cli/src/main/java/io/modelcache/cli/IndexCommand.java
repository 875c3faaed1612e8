package io.modelcache.cli;

import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelIndexer;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code modelcache index REF}: builds the chunk digest index of a model already in a registry or
 * layout (pushed by another client) and pushes it next to the model; prints the index's digest.
 */
@Command(name = "index", description = "Build the chunk digest index of a model already stored at REF (downloads"
    + " each layer once and checks its digest) and push it as an OCI artifact referring to the model, so that"
    + " mounts verify every chunk before serving it.")
final class IndexCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "REF", description = "The model: host[:port]/repo[:tag][@sha256:...] or oci:PATH[:TAG].")
  String ref;

  @Option(names = "--chunk-size", defaultValue = "4194304", paramLabel = "BYTES",
      description = "Chunk size of the index in bytes, a power of two from 4 KiB to 1 GiB (default: ${DEFAULT-VALUE}).")
  long chunkSize;

  @Override
  public Integer call() throws Exception {
    Reference r = Reference.parse(ref);
    if (chunkSize < 4096 || chunkSize > (1L << 30) || Long.bitCount(chunkSize) != 1) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "--chunk-size must be a power of two from 4096 to 1073741824, got " + chunkSize);
    }
    try (ArtifactSink sink = Artifacts.openSink(r, registry.options())) {
      ArtifactSource src = (ArtifactSource) sink; // registry clients and layouts read and write
      ModelArtifact art = ModelReader.read(src, r.tagOrDigest());
      ChunkIndex index = ModelIndexer.build(src, art, (int) chunkSize);
      Digest d = IndexStore.publish(sink, src, index);
      System.out.println(d);
    }
    return 0;
  }
}
