package io.modelcache.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code modelcache inspect REF}: name, digest, whether a chunk digest index covers it, and every
 * file with its size, media type and digest.
 */
@Command(name = "inspect", description = "Show a model's name, manifest digest, chunk index and files.")
final class InspectCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "REF", description = "A model reference: host[:port]/repo[:tag][@sha256:...] or oci:PATH[:TAG].")
  String ref;

  @Option(names = "--json", description = "Print JSON.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    Reference r = Reference.parse(ref);
    try (ArtifactSource src = registry.openSource(r)) {
      ModelArtifact art = ModelReader.read(src, r.tagOrDigest());
      IndexState index = IndexState.of(src, art);
      if (json) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode()
            .put("reference", r.toString())
            .put("name", art.name())
            .put("digest", art.manifest().digest().toString())
            .put("mediaType", art.manifest().mediaType())
            .put("totalBytes", art.totalBytes());
        o.set("chunkIndex", index.json(m));
        ArrayNode files = o.putArray("files");
        for (ModelFile f : art.files()) {
          files.addObject().put("path", f.path()).put("size", f.size()).put("mediaType", f.layer().mediaType())
              .put("digest", f.layer().digest().toString()).put("format", f.format().name());
        }
        System.out.println(o.toPrettyString());
        return 0;
      }
      System.out.println("Name:   " + art.name());
      System.out.println("Digest: " + art.manifest().digest());
      System.out.println("Files:  " + art.files().size() + " (" + art.totalBytes() + " bytes)");
      System.out.println("Index:  " + index.text());
      System.out.printf(Locale.ROOT, "%-48s %14s  %-48s %s%n", "PATH", "SIZE", "MEDIA TYPE", "DIGEST");
      for (ModelFile f : art.files()) {
        System.out.printf(Locale.ROOT, "%-48s %14d  %-48s %s%n", f.path(), f.size(), f.layer().mediaType(),
            f.layer().digest());
      }
    }
    return 0;
  }
}
