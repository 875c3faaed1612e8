package io.modelcache.modelpack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.chunkindex.ChunkHasher;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Packs a directory as a ModelPack artifact, as modctl v0.2 does: one layer per regular file (raw by
 * default, a one-file tar with {@link PushOptions#tar()}), layers ordered config, weights, code, docs,
 * datasets, each by path; the config lists the layer digests as {@code diffIds}. Files are chosen and
 * classified by the directory's {@code Modelfile} when there is one (files it does not name are left
 * out, and its text goes into the {@code org.cncf.modctl.modelfile} annotation), else by
 * {@link FileClassifier}; either way hidden entries, {@code Modelfile} itself and Python caches are
 * skipped, as modctl skips them. Unrecognized files (modctl refuses them) are packed as weights when
 * 128 MiB or larger, else as code. Blobs are uploaded on a pool of {@code parallelism} threads:
 * those a sink streams ({@link ArtifactSink#streamsUploads}, large blobs to a registry) in one read,
 * hashed on the way; the others hashed first, checked with {@code hasBlob} and uploaded once even
 * when several files share content ({@link PushOptions#hashFirst} treats every blob so). The config
 * and then the manifest go last.
 */
public final class ModelPusher {
  static final long WEIGHT_THRESHOLD = 128L << 20;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final DateTimeFormatter RFC3339_NANO = DateTimeFormatter.ISO_OFFSET_DATE_TIME;

  private ModelPusher() {}

  /** One file to pack. */
  record Entry(Path file, String path, FileKind kind, long size, int mode, int uid, int gid, Instant mtime) {}

  /** A prepared layer: its descriptor JSON and how to stream its blob. */
  record Layer(Entry entry, Digest digest, long size, String mediaType, ArtifactSink.BlobBody body,
      long contentOffset, ChunkDigests chunks) {}

  public static Digest push(Path dir, ArtifactSink sink, String tag, PushOptions opts) throws IOException {
    return push(dir, sink, tag, opts, Clock.systemUTC());
  }

  /** As {@link #push(Path, ArtifactSink, String, PushOptions)} with the clock for {@code createdAt}. */
  public static Digest push(Path dir, ArtifactSink sink, String tag, PushOptions opts, Clock clock) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new ModelCacheException(Kind.USAGE, dir + ": not a directory");
    }
    Modelfile mf = null;
    Path mfPath = dir.resolve("Modelfile");
    if (Files.isRegularFile(mfPath)) {
      try {
        mf = Modelfile.parse(Files.readString(mfPath));
      } catch (ModelCacheException e) {
        throw new ModelCacheException(Kind.USAGE, mfPath + ": " + e.getMessage());
      }
    }
    List<Entry> entries = collect(dir, mf);
    if (entries.isEmpty()) {
      throw new ModelCacheException(Kind.USAGE, dir + ": no files to push");
    }
    ExecutorService pool = Executors.newFixedThreadPool(opts.parallelism(), r -> {
      Thread t = new Thread(r, "modelcache-push");
      t.setDaemon(true);
      return t;
    });
    try {
      // Large files stream to a registry that takes it: one read, hashed on the way. The rest are
      // hashed first, so that blobs the registry already has are skipped.
      List<Callable<Layer>> prepare = new ArrayList<>();
      for (Entry e : entries) {
        boolean stream = !opts.hashFirst() && sink.streamsUploads(layerSize(e, opts.tar()));
        prepare.add(() -> stream ? streamed(e, opts.tar(), opts.indexChunkSize(), sink)
            : prepare(e, opts.tar(), opts.indexChunkSize()));
      }
      List<Layer> layers = runAll(pool, prepare);
      Map<Digest, Layer> unique = new LinkedHashMap<>();
      for (Layer l : layers) {
        if (l.body() != null) {
          unique.putIfAbsent(l.digest(), l);
        }
      }
      List<Callable<Void>> uploads = new ArrayList<>();
      for (Layer l : unique.values()) {
        uploads.add(() -> {
          if (!sink.hasBlob(l.digest())) {
            sink.putBlob(l.digest(), l.size(), l.body());
          }
          return null;
        });
      }
      runAll(pool, uploads);

      String created = RFC3339_NANO.format(clock.instant().atOffset(ZoneOffset.UTC));
      String name = opts.name() != null ? opts.name()
          : mf != null && mf.name() != null ? mf.name() : String.valueOf(dir.toAbsolutePath().normalize().getFileName());
      byte[] config = JSON.writeValueAsBytes(config(dir, mf, name, created, layers));
      Digest cd = Digest.of(config);
      if (!sink.hasBlob(cd)) {
        sink.putBlob(cd, config.length, () -> new ByteArrayInputStream(config));
      }
      ObjectNode m = JSON.createObjectNode();
      m.put("schemaVersion", 2);
      m.put("mediaType", MediaTypes.OCI_MANIFEST);
      m.put("artifactType", MediaTypes.MODEL_ARTIFACT);
      ObjectNode c = m.putObject("config");
      c.put("mediaType", MediaTypes.MODEL_CONFIG);
      c.put("digest", cd.toString());
      c.put("size", config.length);
      ArrayNode arr = m.putArray("layers");
      for (Layer l : layers) {
        arr.add(layerJson(l));
      }
      ObjectNode ann = m.putObject("annotations");
      if (mf != null) {
        ann.put(MediaTypes.ANNOTATION_MODELFILE, mf.text());
      }
      ann.put(ModelReader.ANNOTATION_CREATED, created);
      byte[] manifest = JSON.writeValueAsBytes(m);
      Digest md = sink.putManifest(tag, manifest, MediaTypes.OCI_MANIFEST);
      if (opts.indexChunkSize() > 0) {
        List<Digest> layerDigests = new ArrayList<>();
        List<ChunkIndex.FileEntry> files = new ArrayList<>();
        for (Layer l : layers) {
          layerDigests.add(l.digest());
          files.add(new ChunkIndex.FileEntry(l.entry().path(), l.digest(), l.contentOffset(), l.chunks()));
        }
        ChunkIndex index = new ChunkIndex(new Descriptor(MediaTypes.OCI_MANIFEST, md, manifest.length), layerDigests,
            opts.indexChunkSize(), files);
        IndexStore.publish(sink, sink instanceof ArtifactSource src ? src : null, index);
      }
      return md;
    } finally {
      pool.shutdownNow();
    }
  }

  static int groupOrder(FileKind k) {
    return switch (k) {
      case WEIGHT_CONFIG -> 0;
      case WEIGHT -> 1;
      case CODE -> 2;
      case DOC -> 3;
      case DATASET -> 4;
      case OTHER -> 5;
    };
  }

  static List<Entry> collect(Path dir, Modelfile mf) throws IOException {
    List<Entry> out = new ArrayList<>();
    Files.walkFileTree(dir, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
        return !d.equals(dir) && FileClassifier.skipped(d.getFileName().toString())
            ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
        if (!attrs.isRegularFile() || FileClassifier.skipped(f.getFileName().toString())) {
          return FileVisitResult.CONTINUE;
        }
        String rel = dir.relativize(f).toString().replace(java.io.File.separatorChar, '/');
        FileKind kind;
        if (mf != null) {
          kind = mf.kindOf(rel);
          if (kind == null) {
            return FileVisitResult.CONTINUE;
          }
        } else {
          kind = FileClassifier.classify(rel);
          if (kind == FileKind.OTHER) {
            kind = attrs.size() >= WEIGHT_THRESHOLD ? FileKind.WEIGHT : FileKind.CODE;
          }
        }
        out.add(new Entry(f, rel, kind, attrs.size(), mode(f), id(f, "unix:uid"), id(f, "unix:gid"),
            attrs.lastModifiedTime().toInstant()));
        return FileVisitResult.CONTINUE;
      }
    });
    out.sort(Comparator.comparingInt((Entry e) -> groupOrder(e.kind())).thenComparing(Entry::path));
    return out;
  }

  private static int mode(Path f) {
    try {
      Set<PosixFilePermission> perms = Files.getPosixFilePermissions(f);
      int m = 0;
      for (PosixFilePermission p : perms) {
        m |= 1 << (8 - p.ordinal());
      }
      return m;
    } catch (IOException | UnsupportedOperationException e) {
      return 0644;
    }
  }

  private static int id(Path f, String attr) {
    try {
      return (Integer) Files.getAttribute(f, attr);
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return 0;
    }
  }

  static Layer prepare(Entry e, boolean tar) throws IOException {
    return prepare(e, tar, ChunkIndex.DEFAULT_CHUNK_SIZE);
  }

  /** Hashes the layer and, in the same read, the file's chunks ({@code indexChunkSize} 0: none). */
  static Layer prepare(Entry e, boolean tar, int indexChunkSize) throws IOException {
    return prepare(e, tar, indexChunkSize, () -> Files.newInputStream(e.file()));
  }

  private static Layer prepare(Entry e, boolean tar, int indexChunkSize, ArtifactSink.BlobBody content)
      throws IOException {
    LayerFormat format = tar ? LayerFormat.TAR : LayerFormat.RAW;
    String mediaType = e.kind().layerMediaType(format);
    ArtifactSink.BlobBody body;
    long size;
    long offset = 0;
    if (tar) {
      byte[] header = TarWriter.header(e.path(), e.size(), e.mode(), e.uid(), e.gid(), e.mtime());
      size = TarWriter.tarSize(header, e.size());
      offset = header.length;
      body = () -> TarWriter.stream(header, e.size(), content.open());
    } else {
      size = e.size();
      body = content;
    }
    MessageDigest md = Digest.sha256();
    ChunkHasher chunks = indexChunkSize > 0 ? new ChunkHasher(offset, e.size(), indexChunkSize) : null;
    long n = 0;
    try (InputStream in = body.open()) {
      byte[] buf = new byte[1 << 20];
      int r;
      while ((r = in.read(buf)) > 0) {
        md.update(buf, 0, r);
        if (chunks != null) {
          chunks.update(n, buf, 0, r);
        }
        n += r;
      }
    }
    if (n != size || (chunks != null && !chunks.complete())) {
      throw new ModelCacheException(Kind.IO, e.file() + ": changed while packing (" + n + " bytes, expected " + size + ")");
    }
    return new Layer(e, Digest.of(md), size, mediaType, body, offset, chunks == null ? null : chunks.finish());
  }

  private static long layerSize(Entry e, boolean tar) {
    return tar ? TarWriter.tarSize(TarWriter.header(e.path(), e.size(), e.mode(), e.uid(), e.gid(), e.mtime()), e.size())
        : e.size();
  }

  /**
   * Uploads the layer while hashing it and its chunks, in one read of the file; the layer's body is
   * null (nothing left to upload).
   */
  static Layer streamed(Entry e, boolean tar, int indexChunkSize, ArtifactSink sink) throws IOException {
    LayerFormat format = tar ? LayerFormat.TAR : LayerFormat.RAW;
    byte[] header = tar ? TarWriter.header(e.path(), e.size(), e.mode(), e.uid(), e.gid(), e.mtime()) : null;
    long size = tar ? TarWriter.tarSize(header, e.size()) : e.size();
    long offset = tar ? header.length : 0;
    ArtifactSink.SeekableBody body = at -> {
      InputStream in = tar ? TarWriter.stream(header, e.size(), Files.newInputStream(e.file()))
          : Files.newInputStream(e.file());
      in.skipNBytes(at);
      return in;
    };
    ChunkHasher chunks = indexChunkSize > 0 ? new ChunkHasher(offset, e.size(), indexChunkSize) : null;
    Digest d;
    try {
      d = sink.putStreamed(size, body, chunks == null ? null : chunks::update);
    } catch (ModelCacheException ex) {
      if (ex.getMessage() != null && ex.getMessage().startsWith("file ")) {
        throw new ModelCacheException(ex.kind(), e.file() + ": " + ex.getMessage());
      }
      throw ex;
    }
    if (chunks != null && !chunks.complete()) {
      throw new ModelCacheException(Kind.IO, e.file() + ": changed while packing");
    }
    return new Layer(e, d, size, e.kind().layerMediaType(format), null, offset,
        chunks == null ? null : chunks.finish());
  }

  private static ObjectNode layerJson(Layer l) throws IOException {
    ObjectNode o = JSON.createObjectNode();
    o.put("mediaType", l.mediaType());
    o.put("digest", l.digest().toString());
    o.put("size", l.size());
    Entry e = l.entry();
    ObjectNode meta = JSON.createObjectNode();
    meta.put("name", FileClassifier.baseName(e.path()));
    meta.put("mode", e.mode());
    meta.put("uid", e.uid());
    meta.put("gid", e.gid());
    meta.put("size", e.size());
    meta.put("mtime", RFC3339_NANO.format(e.mtime().atOffset(ZoneOffset.UTC)));
    meta.put("typeflag", 0);
    Map<String, String> ann = new TreeMap<>();
    ann.put(MediaTypes.ANNOTATION_FILEPATH, e.path());
    ann.put(MediaTypes.ANNOTATION_FILE_METADATA, JSON.writeValueAsString(meta));
    ann.put(MediaTypes.ANNOTATION_UNTESTED, "false");
    ann.put(MediaTypes.ANNOTATION_TITLE, e.path());
    ObjectNode a = o.putObject("annotations");
    ann.forEach(a::put);
    return o;
  }

  /** The ModelPack config: descriptor, modelfs, config (modctl's order), empty values left out. */
  static ObjectNode config(Path dir, Modelfile mf, String name, String created, List<Layer> layers) {
    String arch = mf != null ? mf.arch() : null;
    String family = mf != null ? mf.family() : null;
    String precision = mf != null ? mf.precision() : null;
    String format = mf != null ? mf.format() : null;
    // Like modctl's generate: fill gaps from a Hugging Face config.json.
    Path hf = dir.resolve("config.json");
    if (Files.isRegularFile(hf)) {
      try {
        JsonNode j = JSON.readTree(hf.toFile());
        family = family != null ? family : j.path("model_type").asText(null);
        precision = precision != null ? precision : j.path("torch_dtype").asText(null);
        arch = arch != null ? arch : j.has("transformers_version") ? "transformer" : null;
      } catch (IOException e) {
        // not JSON: nothing to infer
      }
    }
    if (format == null) {
      for (Layer l : layers) {
        String p = l.entry().path();
        if (l.entry().kind() == FileKind.WEIGHT) {
          int dot = p.lastIndexOf('.');
          format = dot < 0 ? null : p.substring(dot + 1);
          break;
        }
      }
    }
    ObjectNode root = JSON.createObjectNode();
    ObjectNode d = root.putObject("descriptor");
    d.put("createdAt", created);
    putIf(d, "family", family);
    d.put("name", name);
    ObjectNode fs = root.putObject("modelfs");
    fs.put("type", "layers");
    ArrayNode ids = fs.putArray("diffIds");
    for (Layer l : layers) {
      ids.add(l.digest().toString());
    }
    ObjectNode c = root.putObject("config");
    putIf(c, "architecture", arch);
    putIf(c, "format", format);
    putIf(c, "paramSize", mf != null ? mf.paramSize() : null);
    putIf(c, "precision", precision);
    putIf(c, "quantization", mf != null ? mf.quantization() : null);
    return root;
  }

  private static void putIf(ObjectNode o, String k, String v) {
    if (v != null && !v.isEmpty()) {
      o.put(k, v);
    }
  }

  /** Runs every task; on the first failure cancels the rest and rethrows it. */
  static <T> List<T> runAll(ExecutorService pool, List<Callable<T>> tasks) throws IOException {
    List<Future<T>> fs = new ArrayList<>();
    for (Callable<T> t : tasks) {
      fs.add(pool.submit(t));
    }
    List<T> out = new ArrayList<>();
    try {
      for (Future<T> f : fs) {
        out.add(f.get());
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ModelCacheException(Kind.IO, "interrupted", e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof RuntimeException re) {
        throw re;
      }
      throw new ModelCacheException(Kind.IO, String.valueOf(c), c);
    } finally {
      for (Future<T> f : fs) {
        f.cancel(true);
      }
    }
  }
}
