package io.modelcache.chunkindex;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;

/**
 * A model's chunk digest index: the manifest it describes, that manifest's layer digests in order,
 * and for every file its layer, where its content starts in the layer (in the blob for raw and tar
 * layers, in the decompressed stream for compressed ones), its size and the sha256 of each
 * {@code chunkSize} chunk of its content. Canonical JSON: fixed key order, files sorted by path,
 * no whitespace, so the same model always gives the same bytes (and artifact digest).
 */
public record ChunkIndex(Descriptor manifest, List<Digest> layers, int chunkSize, List<FileEntry> files) {
  public static final String MEDIA_TYPE = "application/vnd.modelcache.chunk-index.v1+json";
  public static final int DEFAULT_CHUNK_SIZE = 4 << 20;
  /** Larger indexes are refused (a 4 MiB-chunk index of a 1 TB model is about 17 MB). */
  public static final long MAX_BYTES = 64L << 20;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HexFormat HEX = HexFormat.of();

  /** One file: its path in the model, where its bytes are, and its chunk digests. */
  public record FileEntry(String path, Digest layer, long contentOffset, ChunkDigests chunks) {
    public long size() {
      return chunks.length();
    }
  }

  public ChunkIndex {
    layers = List.copyOf(layers);
    List<FileEntry> sorted = new ArrayList<>(files);
    sorted.sort(Comparator.comparing(FileEntry::path));
    for (int i = 1; i < sorted.size(); i++) {
      if (sorted.get(i).path().equals(sorted.get(i - 1).path())) {
        throw new IllegalArgumentException("file " + sorted.get(i).path() + " listed twice");
      }
    }
    for (FileEntry f : sorted) {
      if (f.chunks().granule() != chunkSize) {
        throw new IllegalArgumentException("file " + f.path() + " has chunks of " + f.chunks().granule()
            + " bytes, not " + chunkSize);
      }
    }
    files = List.copyOf(sorted);
  }

  /** Where a model file's bytes are, as the model's manifest says (to check an index against). */
  public record FileRef(String path, Digest layer, long contentOffset, long size) {}

  /**
   * Accepts this index for a model only if it names that manifest and its layer digests and lists
   * exactly the model's files where the manifest puts them; returns each file's chunk digests by
   * path. Otherwise fails with a one-line DIGEST_MISMATCH error saying what differs.
   */
  public java.util.Map<String, ChunkDigests> acceptFor(Digest manifestDigest, List<Digest> manifestLayers,
      List<FileRef> modelFiles) throws ModelCacheException {
    String what = "chunk index for " + manifestDigest;
    if (!manifest.digest().equals(manifestDigest)) {
      throw ModelCacheException.digestMismatch(what + " names manifest " + manifest.digest());
    }
    if (!layers.equals(manifestLayers)) {
      throw ModelCacheException.digestMismatch(what + " names other layers than the manifest");
    }
    if (modelFiles.size() != files.size()) {
      throw ModelCacheException.digestMismatch(what + " lists " + files.size() + " files, the model has "
          + modelFiles.size());
    }
    java.util.Map<String, ChunkDigests> out = new java.util.LinkedHashMap<>();
    for (FileRef m : modelFiles) {
      FileEntry f = file(m.path());
      if (f == null) {
        throw ModelCacheException.digestMismatch(what + " does not list file " + m.path());
      }
      if (!f.layer().equals(m.layer()) || f.contentOffset() != m.contentOffset() || f.size() != m.size()) {
        throw ModelCacheException.digestMismatch(what + " places file " + m.path() + " elsewhere than the manifest");
      }
      out.put(m.path(), f.chunks());
    }
    return out;
  }

  public FileEntry file(String path) {
    for (FileEntry f : files) {
      if (f.path().equals(path)) {
        return f;
      }
    }
    return null;
  }

  /** The canonical JSON bytes. */
  public byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("mediaType", MEDIA_TYPE);
    ObjectNode m = root.putObject("manifest");
    m.put("mediaType", manifest.mediaType());
    m.put("digest", manifest.digest().toString());
    m.put("size", manifest.size());
    ArrayNode ls = root.putArray("layers");
    layers.forEach(l -> ls.add(l.toString()));
    root.put("chunkSize", chunkSize);
    ArrayNode fs = root.putArray("files");
    for (FileEntry f : files) {
      ObjectNode o = fs.addObject();
      o.put("path", f.path());
      o.put("layer", f.layer().toString());
      o.put("offset", f.contentOffset());
      o.put("size", f.size());
      ArrayNode ds = o.putArray("sha256");
      for (int g = 0; g < f.chunks().granules(); g++) {
        ds.add(HEX.formatHex(f.chunks().digest(g)));
      }
    }
    try {
      return JSON.writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Parses and checks an index; {@code what} names it in the one-line error. */
  public static ChunkIndex parse(byte[] bytes, String what) throws ModelCacheException {
    if (bytes.length > MAX_BYTES) {
      throw bad(what, "larger than " + MAX_BYTES + " bytes");
    }
    JsonNode root;
    try {
      root = JSON.readTree(bytes);
    } catch (IOException e) {
      throw bad(what, "not JSON");
    }
    if (root == null || !root.isObject()) {
      throw bad(what, "not a JSON object");
    }
    if (!MEDIA_TYPE.equals(root.path("mediaType").asText(null))) {
      throw bad(what, "mediaType is not " + MEDIA_TYPE);
    }
    JsonNode m = root.path("manifest");
    Descriptor manifest = new Descriptor(text(m, "mediaType", what), digest(m.path("digest"), what), number(m, "size", what));
    List<Digest> layers = new ArrayList<>();
    for (JsonNode l : array(root, "layers", what)) {
      layers.add(digest(l, what));
    }
    long cs = number(root, "chunkSize", what);
    if (cs < ChunkDigests.MIN_GRANULE || cs > ChunkDigests.MAX_GRANULE || Long.bitCount(cs) != 1) {
      throw bad(what, "chunkSize " + cs + " is not a power of two from 4 KiB to 1 GiB");
    }
    List<FileEntry> files = new ArrayList<>();
    for (JsonNode f : array(root, "files", what)) {
      String path = text(f, "path", what);
      long size = number(f, "size", what);
      JsonNode ds = array(f, "sha256", what);
      long n = (size + cs - 1) / cs;
      if (ds.size() != n) {
        throw bad(what, "file " + path + " has " + ds.size() + " chunk digests, " + n + " expected");
      }
      byte[] all = new byte[Math.toIntExact(n * 32)];
      for (int g = 0; g < n; g++) {
        String hex = ds.get(g).asText("");
        if (hex.length() != 64 || !hex.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
          throw bad(what, "file " + path + " chunk " + g + " has an invalid sha256 '" + hex + "'");
        }
        System.arraycopy(HEX.parseHex(hex), 0, all, g * 32, 32);
      }
      files.add(new FileEntry(path, digest(f.path("layer"), what), number(f, "offset", what),
          new ChunkDigests((int) cs, size, all)));
    }
    try {
      return new ChunkIndex(manifest, layers, (int) cs, files);
    } catch (IllegalArgumentException e) {
      throw bad(what, e.getMessage());
    }
  }

  private static ModelCacheException bad(String what, String why) {
    return ModelCacheException.invalid(what + ": malformed chunk index: " + why);
  }

  private static String text(JsonNode n, String field, String what) throws ModelCacheException {
    JsonNode v = n.path(field);
    if (!v.isTextual() || v.asText().isEmpty()) {
      throw bad(what, "missing " + field);
    }
    return v.asText();
  }

  private static long number(JsonNode n, String field, String what) throws ModelCacheException {
    JsonNode v = n.path(field);
    if (!v.canConvertToLong() || !v.isIntegralNumber() || v.asLong() < 0) {
      throw bad(what, "missing or negative " + field);
    }
    return v.asLong();
  }

  private static JsonNode array(JsonNode n, String field, String what) throws ModelCacheException {
    JsonNode v = n.path(field);
    if (!v.isArray()) {
      throw bad(what, "missing " + field);
    }
    return v;
  }

  private static Digest digest(JsonNode n, String what) throws ModelCacheException {
    String s = n.asText(null);
    if (!Digest.isValid(s)) {
      throw bad(what, "invalid digest '" + s + "'");
    }
    return Digest.parse(s);
  }
}
