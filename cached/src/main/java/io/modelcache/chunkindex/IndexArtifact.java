package io.modelcache.chunkindex;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * How a chunk index is stored as an OCI 1.1 artifact, pure encoding (no I/O): an image manifest
 * with {@code artifactType} {@value ChunkIndex#MEDIA_TYPE}, the empty config, the index JSON as its
 * one layer and the model manifest as its {@code subject}. Registries with the referrers API list it
 * under {@code GET /v2/<repo>/referrers/<model digest>}; for those without (Distribution 2.8, OCI
 * layouts) the referrers tag schema applies: the tag {@code sha256-<hex of the model digest>} holds an
 * image index of the referrers, updated read-modify-write, as SOCI and ORAS store theirs.
 */
public final class IndexArtifact {
  public static final byte[] EMPTY_CONFIG = "{}".getBytes(StandardCharsets.UTF_8);
  public static final Digest EMPTY_CONFIG_DIGEST = Digest.of(EMPTY_CONFIG);
  private static final ObjectMapper JSON = new ObjectMapper();

  private IndexArtifact() {}

  /** The tag that holds the referrers of {@code subject} where the registry has no referrers API. */
  public static String referrersTag(Digest subject) {
    return "sha256-" + subject.hex();
  }

  /** The artifact manifest for an index blob of {@code size} bytes describing {@code subject}. */
  public static byte[] manifest(Descriptor subject, Digest indexBlob, long size) {
    ObjectNode m = JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.put("artifactType", ChunkIndex.MEDIA_TYPE);
    ObjectNode c = m.putObject("config");
    c.put("mediaType", MediaTypes.OCI_EMPTY);
    c.put("digest", EMPTY_CONFIG_DIGEST.toString());
    c.put("size", EMPTY_CONFIG.length);
    ObjectNode l = m.putArray("layers").addObject();
    l.put("mediaType", ChunkIndex.MEDIA_TYPE);
    l.put("digest", indexBlob.toString());
    l.put("size", size);
    ObjectNode s = m.putObject("subject");
    s.put("mediaType", subject.mediaType());
    s.put("digest", subject.digest().toString());
    s.put("size", subject.size());
    return write(m);
  }

  /**
   * The referrers index after adding {@code referrer} (our artifact manifest) to {@code existing}
   * (the tag's current index, or null): other referrers are kept, an older chunk index is replaced.
   */
  public static byte[] withReferrer(byte[] existing, Descriptor referrer) throws ModelCacheException {
    ObjectNode out = JSON.createObjectNode();
    out.put("schemaVersion", 2);
    out.put("mediaType", MediaTypes.OCI_INDEX);
    ArrayNode ms = out.putArray("manifests");
    if (existing != null) {
      for (JsonNode m : tree(existing, "referrers index").path("manifests")) {
        if (!ChunkIndex.MEDIA_TYPE.equals(m.path("artifactType").asText(null))) {
          ms.add(m);
        }
      }
    }
    ObjectNode e = ms.addObject();
    e.put("mediaType", referrer.mediaType());
    e.put("digest", referrer.digest().toString());
    e.put("size", referrer.size());
    e.put("artifactType", ChunkIndex.MEDIA_TYPE);
    return write(out);
  }

  /** Chunk index artifacts listed in a referrers index (API answer or tag), last one first. */
  public static List<Digest> listed(byte[] referrersIndex) throws ModelCacheException {
    List<Digest> out = new ArrayList<>();
    for (JsonNode m : tree(referrersIndex, "referrers index").path("manifests")) {
      String d = m.path("digest").asText(null);
      if (ChunkIndex.MEDIA_TYPE.equals(m.path("artifactType").asText(null)) && Digest.isValid(d)) {
        out.addFirst(Digest.parse(d));
      }
    }
    return out;
  }

  /**
   * The index blob of an artifact manifest, checked to be a chunk index whose subject is
   * {@code subject}; fails with a one-line error otherwise.
   */
  public static Descriptor indexBlob(byte[] manifest, Digest subject) throws ModelCacheException {
    JsonNode m = tree(manifest, "chunk index manifest");
    if (!ChunkIndex.MEDIA_TYPE.equals(m.path("artifactType").asText(null))) {
      throw ModelCacheException.invalid("chunk index manifest has artifactType '"
          + m.path("artifactType").asText("") + "'");
    }
    if (!subject.toString().equals(m.path("subject").path("digest").asText(null))) {
      throw ModelCacheException.digestMismatch("chunk index manifest names subject "
          + m.path("subject").path("digest").asText("(none)") + ", not " + subject);
    }
    JsonNode l = m.path("layers").path(0);
    String d = l.path("digest").asText(null);
    if (!ChunkIndex.MEDIA_TYPE.equals(l.path("mediaType").asText(null)) || !Digest.isValid(d)
        || !l.path("size").canConvertToLong()) {
      throw ModelCacheException.invalid("chunk index manifest has no index layer");
    }
    return new Descriptor(ChunkIndex.MEDIA_TYPE, Digest.parse(d), l.path("size").asLong());
  }

  private static JsonNode tree(byte[] bytes, String what) throws ModelCacheException {
    JsonNode n;
    try {
      n = JSON.readTree(bytes);
    } catch (IOException e) {
      throw ModelCacheException.invalid(what + " is not JSON");
    }
    if (n == null || !n.isObject()) {
      throw ModelCacheException.invalid(what + " is not a JSON object");
    }
    return n;
  }

  private static byte[] write(ObjectNode n) {
    try {
      return JSON.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
