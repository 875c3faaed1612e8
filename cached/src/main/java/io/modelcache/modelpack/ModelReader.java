package io.modelcache.modelpack;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdInputStream;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Reads a model artifact's manifest and config into a file list. Accepts ModelPack ({@code vnd.cncf}
 * and legacy {@code vnd.cnai}) and generic ORAS artifacts (empty config, files named by
 * {@code org.opencontainers.image.title}, {@code tar+gzip} directory layers with
 * {@code io.deis.oras.content.unpack}). Tar layers are located by reading their first header blocks
 * only; compressed and directory layers are streamed. Stateless and thread-safe.
 */
public final class ModelReader {
  /** Bytes read first to find a tar layer's content. */
  static final int TAR_PROBE = 64 << 10;
  static final long MAX_MANIFEST = 16L << 20;
  static final long MAX_CONFIG = 16L << 20;
  static final String ANNOTATION_CREATED = "org.opencontainers.image.created";
  static final String SIGSTORE_PREFIX = "application/vnd.dev.sigstore.";
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelReader() {}

  public static ModelArtifact read(ArtifactSource src, String tagOrDigest) throws IOException {
    Reference base = src.reference();
    Reference ref = Digest.isValid(tagOrDigest)
        ? new Reference(base.registry(), base.repository(), base.layout(), null, Digest.parse(tagOrDigest))
        : new Reference(base.registry(), base.repository(), base.layout(), tagOrDigest, null);
    FetchedManifest fm = src.fetchManifest(tagOrDigest);
    JsonNode root = parseManifest(ref, fm);
    if (isIndex(fm, root)) {
      JsonNode pick = null;
      for (JsonNode m : root.path("manifests")) {
        String at = m.path("artifactType").asText("");
        if (at.equals(MediaTypes.MODEL_ARTIFACT) || at.equals(MediaTypes.LEGACY_MODEL_ARTIFACT)) {
          pick = m;
          break;
        }
      }
      if (pick == null) {
        pick = root.path("manifests").path(0);
      }
      String d = pick.path("digest").asText(null);
      if (!Digest.isValid(d)) {
        throw malformed(ref, "index has no usable manifest");
      }
      fm = src.fetchManifest(d);
      root = parseManifest(ref, fm);
      if (isIndex(fm, root)) {
        throw malformed(ref, "nested index");
      }
    }
    return readManifest(src, ref, fm, root);
  }

  private static JsonNode parseManifest(Reference ref, FetchedManifest fm) throws ModelCacheException {
    Digest got = Digest.of(fm.bytes());
    if (!got.equals(fm.digest())) {
      throw ModelCacheException.digestMismatch(
          ref + ": manifest " + fm.digest() + " failed verification (got " + got + ")");
    }
    try {
      JsonNode n = JSON.readTree(fm.bytes());
      if (n == null || !n.isObject()) {
        throw malformed(ref, "not a JSON object");
      }
      return n;
    } catch (JacksonException e) {
      throw malformed(ref, shortCause(e));
    } catch (IOException e) {
      throw malformed(ref, e.getMessage());
    }
  }

  private static boolean isIndex(FetchedManifest fm, JsonNode root) {
    String mt = root.path("mediaType").asText(fm.mediaType() == null ? "" : fm.mediaType());
    return mt.equals(MediaTypes.OCI_INDEX) || mt.equals(MediaTypes.DOCKER_MANIFEST_LIST)
        || (root.has("manifests") && !root.has("layers"));
  }

  static ModelCacheException malformed(Reference ref, String cause) {
    return ModelCacheException.invalid(ref + ": malformed manifest: " + cause);
  }

  private static String shortCause(JacksonException e) {
    String m = e.getOriginalMessage();
    if (m == null) {
      return "invalid JSON";
    }
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  private static Descriptor descriptor(Reference ref, JsonNode n, String what) throws ModelCacheException {
    if (!n.isObject()) {
      throw malformed(ref, "missing " + what);
    }
    String d = n.path("digest").asText(null);
    if (!Digest.isValid(d)) {
      throw malformed(ref, what + " has invalid digest '" + d + "'");
    }
    if (!n.path("size").canConvertToLong() || n.path("size").asLong() < 0) {
      throw malformed(ref, what + " has no valid size");
    }
    Map<String, String> ann = new LinkedHashMap<>();
    n.path("annotations").properties().forEach(e -> ann.put(e.getKey(), e.getValue().asText()));
    return new Descriptor(n.path("mediaType").asText(""), new Digest(d.substring(7)), n.path("size").asLong(),
        ann, n.path("artifactType").asText(null));
  }

  private static ModelArtifact readManifest(ArtifactSource src, Reference ref, FetchedManifest fm, JsonNode root)
      throws IOException {
    Descriptor config = descriptor(ref, root.path("config"), "config");
    if (!root.path("layers").isArray()) {
      throw malformed(ref, "no layers array");
    }
    List<Descriptor> layers = new ArrayList<>();
    int i = 0;
    for (JsonNode l : root.path("layers")) {
      layers.add(descriptor(ref, l, "layer " + i++));
    }
    String artifactType = root.path("artifactType").asText("");
    boolean modelPack = config.mediaType().equals(MediaTypes.MODEL_CONFIG)
        || config.mediaType().equals(MediaTypes.LEGACY_MODEL_CONFIG)
        || artifactType.equals(MediaTypes.MODEL_ARTIFACT) || artifactType.equals(MediaTypes.LEGACY_MODEL_ARTIFACT);
    boolean oras = !modelPack && (config.mediaType().equals(MediaTypes.OCI_EMPTY)
        || (!layers.isEmpty() && layers.stream().allMatch(l -> l.annotation(MediaTypes.ANNOTATION_TITLE) != null)));
    if (!modelPack && !oras) {
      throw ModelCacheException.invalid(ref + ": not a ModelPack artifact (config media type " + config.mediaType() + ")");
    }
    if (oras && artifactType.startsWith(SIGSTORE_PREFIX)) {
      // cosign bundles look like titled ORAS artifacts but are signatures, not models
      throw ModelCacheException.invalid(ref + ": not a ModelPack artifact (artifact type " + artifactType + ")");
    }
    byte[] configBytes = src.fetchBlob(config.digest(), MAX_CONFIG);
    Digest gotConfig = Digest.of(configBytes);
    if (!gotConfig.equals(config.digest())) {
      throw ModelCacheException.digestMismatch(
          ref + ": config " + config.digest() + " failed verification (got " + gotConfig + ")");
    }
    String name = null;
    if (modelPack) {
      try {
        JsonNode c = JSON.readTree(configBytes);
        name = c == null ? null : c.path("descriptor").path("name").asText(null);
      } catch (JacksonException e) {
        throw ModelCacheException.invalid(ref + ": malformed config: " + shortCause(e));
      }
    }
    Map<String, String> manifestAnn = new HashMap<>();
    root.path("annotations").properties().forEach(e -> manifestAnn.put(e.getKey(), e.getValue().asText()));
    if (name == null || name.isEmpty()) {
      name = manifestAnn.get(MediaTypes.ANNOTATION_TITLE);
    }
    if (name == null || name.isEmpty()) {
      name = defaultName(ref);
    }
    Instant defaultMtime = Instant.EPOCH;
    String created = manifestAnn.get(ANNOTATION_CREATED);
    if (created != null) {
      Instant t = parseTime(created);
      defaultMtime = t != null ? t : defaultMtime;
    }

    List<ModelFile> files = new ArrayList<>();
    Map<String, Digest> seen = new HashMap<>();
    for (Descriptor layer : layers) {
      String where = ref + ": layer " + layer.digest().shortHex();
      List<ModelFile> got = modelPack
          ? modelPackLayer(src, ref, where, layer, defaultMtime)
          : orasLayer(src, ref, where, layer, defaultMtime);
      for (ModelFile f : got) {
        PathSafety.check(where, f.path());
        Digest prev = seen.putIfAbsent(f.path(), layer.digest());
        if (prev != null) {
          throw ModelCacheException.unsafePath(ref + ": duplicate file path '" + f.path() + "' in layers "
              + prev.shortHex() + " and " + layer.digest().shortHex());
        }
        files.add(f);
      }
    }
    return new ModelArtifact(ref, fm, configBytes, config.digest(), name, files);
  }

  private static String defaultName(Reference ref) {
    String s = ref.isLayout() ? String.valueOf(ref.layout().getFileName()) : ref.repository();
    int slash = s.lastIndexOf('/');
    return slash < 0 ? s : s.substring(slash + 1);
  }

  private static List<ModelFile> modelPackLayer(
      ArtifactSource src, Reference ref, String where, Descriptor layer, Instant defaultMtime) throws IOException {
    String path = firstNonNull(layer.annotation(MediaTypes.ANNOTATION_FILEPATH),
        layer.annotation(MediaTypes.LEGACY_ANNOTATION_FILEPATH), layer.annotation(MediaTypes.ANNOTATION_TITLE));
    if (path == null) {
      throw ModelCacheException.invalid(where + ": no file path annotation (" + MediaTypes.ANNOTATION_FILEPATH + ")");
    }
    PathSafety.check(where, path);
    FileKind kind = FileKind.ofMediaType(layer.mediaType());
    LayerFormat format = LayerFormat.ofMediaType(layer.mediaType());
    Meta meta = Meta.parse(where, firstNonNull(layer.annotation(MediaTypes.ANNOTATION_FILE_METADATA),
        layer.annotation(MediaTypes.LEGACY_ANNOTATION_FILE_METADATA)));
    if (format == LayerFormat.RAW) {
      return List.of(new ModelFile(path, layer, format, 0, layer.size(), meta.modeOr(0644), meta.uidOr(0),
          meta.gidOr(0), meta.mtimeOr(defaultMtime), kind));
    }
    TarEntry e = format == LayerFormat.TAR ? locateTar(src, where, layer) : firstCompressed(src, where, layer, format);
    if (e == null) {
      throw ModelCacheException.invalid(where + ": empty tar archive");
    }
    if (e.isDirectory()) {
      return directoryLayer(src, where, layer, format, path, kind, meta.mtimeOr(defaultMtime));
    }
    if (!e.isRegular()) {
      throw ModelCacheException.invalid(where + ": tar entry '" + e.name() + "' is not a regular file");
    }
    return List.of(new ModelFile(path, layer, format, e.contentOffset(), e.size(), meta.modeOr(e.mode()),
        meta.uidOr(e.uid()), meta.gidOr(e.gid()), meta.mtimeOr(e.mtime()), kind));
  }

  private static List<ModelFile> orasLayer(
      ArtifactSource src, Reference ref, String where, Descriptor layer, Instant defaultMtime) throws IOException {
    String title = firstNonNull(layer.annotation(MediaTypes.ANNOTATION_TITLE),
        layer.annotation(MediaTypes.ANNOTATION_FILEPATH), layer.annotation(MediaTypes.LEGACY_ANNOTATION_FILEPATH));
    if (title == null) {
      return List.of(); // ORAS skips untitled layers on pull as well
    }
    PathSafety.check(where, title);
    boolean unpack = "true".equals(layer.annotation(MediaTypes.ANNOTATION_ORAS_UNPACK));
    if (unpack) {
      LayerFormat f = LayerFormat.ofMediaType(layer.mediaType());
      if (f == LayerFormat.RAW) {
        f = LayerFormat.TAR_GZIP; // ORAS directories are always tar+gzip
      }
      return directoryLayer(src, where, layer, f, title, null, defaultMtime);
    }
    return List.of(new ModelFile(title, layer, LayerFormat.RAW, 0, layer.size(), 0644, 0, 0, defaultMtime,
        FileClassifier.classify(title)));
  }

  /** Every regular file of a tar layer, placed under {@code dir} (entries may already carry it). */
  private static List<ModelFile> directoryLayer(ArtifactSource src, String where, Descriptor layer,
      LayerFormat format, String dir, FileKind kind, Instant mtimeFallback) throws IOException {
    List<ModelFile> out = new ArrayList<>();
    try (InputStream in = decompressed(src.openBlob(layer.digest(), 0, -1), format)) {
      TarStreamReader tr = new TarStreamReader(in);
      TarEntry e;
      while ((e = tr.next()) != null) {
        if (!e.isRegular()) {
          continue; // directories are implied; links are not served
        }
        String name = e.name();
        while (name.startsWith("./")) {
          name = name.substring(2);
        }
        PathSafety.check(where, name);
        String path = name.equals(dir) || name.startsWith(dir + "/") ? name : dir + "/" + name;
        Instant mtime = e.mtime().equals(Instant.EPOCH) ? mtimeFallback : e.mtime();
        out.add(new ModelFile(path, layer, format, e.contentOffset(), e.size(), e.mode() == 0 ? 0644 : e.mode(),
            e.uid(), e.gid(), mtime, kind != null ? kind : FileClassifier.classify(path)));
      }
    } catch (TarFormatException e) {
      throw ModelCacheException.invalid(where + ": malformed tar: " + e.getMessage());
    }
    return out;
  }

  /** Opens a layer's bytes as an uncompressed tar stream. */
  static InputStream decompressed(InputStream raw, LayerFormat format) throws IOException {
    try {
      return switch (format) {
        case TAR_GZIP -> new GZIPInputStream(raw, 1 << 16);
        case TAR_ZSTD -> new ZstdInputStream(raw);
        default -> raw;
      };
    } catch (IOException e) {
      raw.close();
      throw e;
    }
  }

  private static TarEntry firstCompressed(ArtifactSource src, String where, Descriptor layer, LayerFormat format)
      throws IOException {
    try (InputStream in = decompressed(src.openBlob(layer.digest(), 0, -1), format)) {
      return new TarStreamReader(in).next();
    } catch (TarFormatException e) {
      throw ModelCacheException.invalid(where + ": malformed tar: " + e.getMessage());
    } catch (java.util.zip.ZipException e) {
      throw ModelCacheException.invalid(where + ": malformed " + format.suffix() + ": " + e.getMessage());
    }
  }

  /** Finds the first entry of an uncompressed tar layer by range-reading its header blocks. */
  static TarEntry locateTar(ArtifactSource src, String where, Descriptor layer) throws IOException {
    long want = Math.min(TAR_PROBE, layer.size());
    while (true) {
      byte[] buf;
      try (InputStream in = src.openBlob(layer.digest(), 0, want)) {
        buf = in.readNBytes((int) want);
      }
      TarLocator.Result r;
      try {
        r = TarLocator.first(buf, buf.length);
      } catch (TarFormatException e) {
        throw ModelCacheException.invalid(where + ": malformed tar: " + e.getMessage());
      }
      if (r instanceof TarLocator.Found f) {
        TarEntry e = f.entry();
        if (e.isRegular() && e.contentOffset() + e.size() > layer.size()) {
          throw ModelCacheException.invalid(where + ": malformed tar: entry '" + e.name() + "' of " + e.size()
              + " bytes does not fit in the " + layer.size() + "-byte layer");
        }
        return e;
      }
      if (r instanceof TarLocator.End) {
        return null;
      }
      long need = ((TarLocator.NeedMore) r).bytes();
      if (need > layer.size() || need <= want) {
        throw ModelCacheException.invalid(where + ": malformed tar: truncated header");
      }
      want = Math.min(layer.size(), Math.max(need, want * 2));
    }
  }

  static String firstNonNull(String... s) {
    for (String x : s) {
      if (x != null && !x.isEmpty()) {
        return x;
      }
    }
    return null;
  }

  static Instant parseTime(String s) {
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  /** The {@code file.metadata+json} annotation; absent fields are null. */
  record Meta(Integer mode, Integer uid, Integer gid, Instant mtime) {
    static Meta parse(String where, String json) throws ModelCacheException {
      if (json == null) {
        return new Meta(null, null, null, null);
      }
      JsonNode n;
      try {
        n = JSON.readTree(json);
      } catch (JacksonException e) {
        throw ModelCacheException.invalid(where + ": malformed file metadata: " + shortCause(e));
      }
      if (n == null || !n.isObject()) {
        throw ModelCacheException.invalid(where + ": malformed file metadata: not a JSON object");
      }
      if (n.has("typeflag")) {
        int t = n.path("typeflag").asInt(0);
        if (t != 0 && t != '0') {
          throw ModelCacheException.invalid(where + ": file metadata typeflag " + t + " is not a regular file");
        }
      }
      Integer mode = n.path("mode").canConvertToInt() ? n.path("mode").asInt() & 07777 : null;
      Integer uid = n.path("uid").canConvertToInt() ? n.path("uid").asInt() : null;
      Integer gid = n.path("gid").canConvertToInt() ? n.path("gid").asInt() : null;
      Instant mtime = n.hasNonNull("mtime") ? parseTime(n.path("mtime").asText()) : null;
      return new Meta(mode, uid, gid, mtime);
    }

    int modeOr(int d) {
      return mode != null ? mode : d;
    }

    int uidOr(int d) {
      return uid != null ? uid : d;
    }

    int gidOr(int d) {
      return gid != null ? gid : d;
    }

    Instant mtimeOr(Instant d) {
      return mtime != null ? mtime : d;
    }
  }
}
