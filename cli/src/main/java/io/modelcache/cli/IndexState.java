package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelIndexer;
import io.modelcache.oci.ArtifactSource;
import java.io.IOException;

/** What {@code inspect} says about a model's chunk digest index: none, accepted, or rejected and why. */
record IndexState(IndexStore.Found found, String rejected) {
  static IndexState of(ArtifactSource src, ModelArtifact art) throws IOException {
    IndexStore.Found f;
    try {
      f = IndexStore.find(src, art.manifest().digest());
    } catch (ModelCacheException e) {
      if (e.kind() == ModelCacheException.Kind.AUTH || e.kind() == ModelCacheException.Kind.UNREACHABLE) {
        throw e;
      }
      return new IndexState(null, e.getMessage());
    }
    if (f == null) {
      return new IndexState(null, null);
    }
    try {
      ModelIndexer.accept(f.index(), art);
      return new IndexState(f, null);
    } catch (ModelCacheException e) {
      return new IndexState(f, e.getMessage());
    }
  }

  String text() {
    if (found == null && rejected == null) {
      return "none (mounts verify whole blobs only)";
    }
    if (rejected != null) {
      return "rejected: " + rejected;
    }
    return found.artifact() + " (" + found.index().chunkSize() + "-byte chunks, via " + found.via() + ")";
  }

  JsonNode json(ObjectMapper m) {
    if (found == null && rejected == null) {
      return m.nullNode();
    }
    ObjectNode o = m.createObjectNode().put("accepted", rejected == null);
    if (found != null) {
      o.put("digest", found.artifact().toString()).put("chunkSize", found.index().chunkSize()).put("via", found.via());
    }
    if (rejected != null) {
      o.put("reason", rejected);
    }
    return o;
  }
}
