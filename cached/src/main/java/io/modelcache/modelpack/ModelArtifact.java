package io.modelcache.modelpack;

import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import java.util.List;

/**
 * A model artifact as read from a source. {@code manifest} and {@code config} are the bytes exactly as
 * fetched (both verified); {@code files} follow layer order (entries of a directory layer in archive
 * order). {@code ref} is the reference as requested; the manifest digest pins it.
 */
public record ModelArtifact(
    Reference ref, FetchedManifest manifest, byte[] config, Digest configDigest, String name, List<ModelFile> files) {
  public ModelArtifact {
    files = List.copyOf(files);
  }

  public long totalBytes() {
    long t = 0;
    for (ModelFile f : files) {
      t += f.size();
    }
    return t;
  }
}
