package io.modelcache.layout;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.UUID;

/**
 * An OCI image layout directory: {@code oci-layout}, {@code index.json} (manifests tagged by
 * {@code org.opencontainers.image.ref.name}) and {@code blobs/sha256/<hex>}. Reads are lock-free;
 * index.json updates are serialized per directory within the JVM and with a file lock
 * ({@code .index.json.lock}) across processes, and replace the file atomically. Blobs are written to a
 * temporary file, verified, fsynced and renamed, so readers never see a partial blob.
 */
public final class OciLayout implements ArtifactSource, ArtifactSink {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] LAYOUT_FILE =
      "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8);
  private static final long MAX_INDEX_BYTES = 64L << 20;

  private final Reference ref;
  private final Path root;
  private final String label;
  /** One monitor per layout directory in this JVM: a FileLock alone throws on overlap within a process. */
  private static final java.util.concurrent.ConcurrentHashMap<Path, Object> LOCKS =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final Object indexLock;

  private OciLayout(Reference ref) {
    this.ref = ref;
    this.root = ref.layout();
    this.label = "oci:" + ref.layout();
    this.indexLock = LOCKS.computeIfAbsent(root.toAbsolutePath().normalize(), k -> new Object());
  }

  /** Opens an existing layout for reading (and writing); NOT_FOUND when there is no oci-layout file. */
  public static OciLayout open(Reference ref) throws ModelCacheException {
    requireLayout(ref);
    if (!Files.isRegularFile(ref.layout().resolve("oci-layout"))) {
      throw ModelCacheException.notFound(
          "oci:" + ref.layout() + ": not an OCI image layout (no oci-layout file)");
    }
    return new OciLayout(ref);
  }

  /** Opens a layout, creating the directory, oci-layout and an empty index.json when missing. */
  public static OciLayout create(Reference ref) throws IOException {
    requireLayout(ref);
    OciLayout l = new OciLayout(ref);
    try {
      Files.createDirectories(l.root.resolve("blobs").resolve("sha256"));
      if (!Files.exists(l.root.resolve("oci-layout"))) {
        l.writeAtomically(l.root.resolve("oci-layout"), LAYOUT_FILE);
      }
      synchronized (l.indexLock) {
        if (!Files.exists(l.root.resolve("index.json"))) {
          ObjectNode idx = JSON.createObjectNode();
          idx.put("schemaVersion", 2);
          idx.put("mediaType", MediaTypes.OCI_INDEX);
          idx.putArray("manifests");
          l.writeAtomically(l.root.resolve("index.json"), JSON.writeValueAsBytes(idx));
        }
      }
    } catch (ModelCacheException e) {
      throw e;
    } catch (IOException e) {
      throw new ModelCacheException(Kind.IO, l.label + ": cannot create layout: " + e.getMessage(), e);
    }
    return l;
  }

  private static void requireLayout(Reference ref) throws ModelCacheException {
    if (ref == null || !ref.isLayout()) {
      throw new ModelCacheException(Kind.USAGE, "not an oci: layout reference: " + ref);
    }
  }

  @Override
  public Reference reference() {
    return ref;
  }

  /** The layout directory. */
  public Path root() {
    return root;
  }

  /** Where a blob is (or would be) stored. */
  public Path blobPath(Digest d) {
    return root.resolve("blobs").resolve("sha256").resolve(d.hex());
  }

  // ---------------------------------------------------------------- reading

  @Override
  public FetchedManifest fetchManifest(String tagOrDigest) throws IOException {
    JsonNode entry = null;
    Digest digest;
    if (Digest.isValid(tagOrDigest)) {
      digest = Digest.parse(tagOrDigest);
      for (JsonNode m : readIndex().path("manifests")) {
        if (tagOrDigest.equals(m.path("digest").asText())) {
          entry = m;
        }
      }
      if (!Files.isRegularFile(blobPath(digest))) {
        throw ModelCacheException.notFound(label + ": manifest '" + tagOrDigest + "' not found");
      }
    } else {
      for (JsonNode m : readIndex().path("manifests")) {
        if (tagOrDigest.equals(m.path("annotations").path(MediaTypes.ANNOTATION_REF_NAME).asText(null))) {
          entry = m; // the last entry with a tag wins, as in other tools
        }
      }
      if (entry == null || !Digest.isValid(entry.path("digest").asText(null))) {
        throw ModelCacheException.notFound(label + ": manifest '" + tagOrDigest + "' not found");
      }
      digest = Digest.parse(entry.path("digest").asText());
    }
    byte[] bytes;
    try {
      bytes = fetchBlob(digest, MAX_INDEX_BYTES);
    } catch (ModelCacheException e) {
      if (e.kind() == Kind.NOT_FOUND) {
        throw ModelCacheException.notFound(label + ": manifest '" + tagOrDigest + "' not found");
      }
      throw e;
    }
    String mediaType = entry != null ? entry.path("mediaType").asText(null) : null;
    if (mediaType == null) {
      try {
        mediaType = JSON.readTree(bytes).path("mediaType").asText(null);
      } catch (IOException e) {
        mediaType = null; // the reader reports malformed JSON with context
      }
    }
    return new FetchedManifest(bytes, mediaType, digest);
  }

  @Override
  public byte[] fetchBlob(Digest digest, long maxBytes) throws IOException {
    Path p = blobPath(digest);
    byte[] bytes;
    try {
      long size = Files.size(p);
      if (size > maxBytes) {
        throw ModelCacheException.invalid(
            label + ": blob " + digest + " is " + size + " bytes, more than the " + maxBytes + " allowed");
      }
      bytes = Files.readAllBytes(p);
    } catch (NoSuchFileException e) {
      throw blobNotFound(digest);
    }
    Digest got = Digest.of(bytes);
    if (!got.equals(digest)) {
      throw ModelCacheException.digestMismatch(
          label + ": blob " + digest + " failed verification (got " + got + ")");
    }
    return bytes;
  }

  @Override
  public InputStream openBlob(Digest digest, long offset, long length) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(blobPath(digest), StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw blobNotFound(digest);
    }
    long size = ch.size();
    if (offset < 0 || offset > size || (length >= 0 && offset + length > size)) {
      ch.close();
      throw new ModelCacheException(Kind.IO, label + ": blob " + digest + ": range " + offset + "+"
          + length + " is outside its " + size + " bytes");
    }
    long end = length < 0 ? size : offset + length;
    return new RangeStream(ch, offset, end);
  }

  private ModelCacheException blobNotFound(Digest d) {
    return ModelCacheException.notFound(label + ": blob " + d + " not found");
  }

  // ---------------------------------------------------------------- writing

  @Override
  public boolean hasBlob(Digest digest) {
    return Files.isRegularFile(blobPath(digest));
  }

  @Override
  public void putBlob(Digest digest, long size, BlobBody body) throws IOException {
    Path target = blobPath(digest);
    if (Files.isRegularFile(target) && Files.size(target) == size) {
      return;
    }
    Files.createDirectories(target.getParent());
    Path tmp = target.resolveSibling(".tmp-" + digest.shortHex() + "-" + UUID.randomUUID());
    try {
      MessageDigest md = Digest.sha256();
      long n = 0;
      try (InputStream in = body.open();
          FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        byte[] buf = new byte[1 << 20];
        int r;
        while ((r = in.read(buf)) > 0) {
          md.update(buf, 0, r);
          ByteBuffer bb = ByteBuffer.wrap(buf, 0, r);
          while (bb.hasRemaining()) {
            out.write(bb);
          }
          n += r;
        }
        out.force(true);
      }
      Digest got = Digest.of(md);
      if (!got.equals(digest) || n != size) {
        throw ModelCacheException.digestMismatch(label + ": blob " + digest + " failed verification (got "
            + got + ", " + n + " bytes, expected " + size + ")");
      }
      move(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  @Override
  public Digest putManifest(String tag, byte[] bytes, String mediaType) throws IOException {
    Digest d = Digest.of(bytes);
    putBlob(d, bytes.length, () -> new java.io.ByteArrayInputStream(bytes));
    synchronized (indexLock) {
      try (FileChannel lockFile = FileChannel.open(root.resolve(".index.json.lock"), StandardOpenOption.CREATE,
              StandardOpenOption.WRITE);
          java.nio.channels.FileLock ignored = lockFile.lock()) {
        updateIndex(tag, d, bytes.length, mediaType);
      }
    }
    return d;
  }

  /** Rewrites index.json with {@code d} under {@code tag}; callers hold both the instance and file lock. */
  private void updateIndex(String tag, Digest d, long size, String mediaType) throws IOException {
    {
      JsonNode idx = readIndex();
      ObjectNode out = idx.isObject() ? ((ObjectNode) idx).deepCopy() : JSON.createObjectNode();
      if (!out.has("schemaVersion")) {
        out.put("schemaVersion", 2);
      }
      if (!out.has("mediaType")) {
        out.put("mediaType", MediaTypes.OCI_INDEX);
      }
      ArrayNode kept = JSON.createArrayNode();
      for (JsonNode m : idx.path("manifests")) {
        String t = m.path("annotations").path(MediaTypes.ANNOTATION_REF_NAME).asText(null);
        boolean sameTag = tag != null && tag.equals(t);
        boolean sameUntagged = tag == null && t == null && d.toString().equals(m.path("digest").asText());
        if (!sameTag && !sameUntagged) {
          kept.add(m);
        }
      }
      ObjectNode e = kept.addObject();
      e.put("mediaType", mediaType);
      e.put("digest", d.toString());
      e.put("size", size);
      if (tag != null) {
        e.putObject("annotations").put(MediaTypes.ANNOTATION_REF_NAME, tag);
      }
      out.set("manifests", kept);
      writeAtomically(root.resolve("index.json"), JSON.writeValueAsBytes(out));
    }
  }

  @Override
  public void close() {}

  // ---------------------------------------------------------------- helpers

  private JsonNode readIndex() throws IOException {
    Path p = root.resolve("index.json");
    try {
      return JSON.readTree(Files.readAllBytes(p));
    } catch (NoSuchFileException e) {
      return JSON.createObjectNode();
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw ModelCacheException.invalid(label + ": malformed index.json: " + e.getOriginalMessage());
    }
  }

  private void writeAtomically(Path target, byte[] bytes) throws IOException {
    Path tmp = target.resolveSibling(".tmp-" + target.getFileName() + "-" + UUID.randomUUID());
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        ByteBuffer bb = ByteBuffer.wrap(bytes);
        while (bb.hasRemaining()) {
          ch.write(bb);
        }
        ch.force(true);
      }
      move(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static void move(Path tmp, Path target) throws IOException {
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** A bounded positional stream over a file channel; ends early only by throwing. */
  private static final class RangeStream extends InputStream {
    private final FileChannel ch;
    private long pos;
    private final long end;

    RangeStream(FileChannel ch, long start, long end) {
      this.ch = ch;
      this.pos = start;
      this.end = end;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int r = read(one, 0, 1);
      return r < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (pos >= end) {
        return -1;
      }
      int want = (int) Math.min(len, end - pos);
      int r = ch.read(ByteBuffer.wrap(b, off, want), pos);
      if (r < 0) {
        throw new EOFException("blob truncated at " + pos);
      }
      pos += r;
      return r;
    }

    @Override
    public long skip(long n) {
      long s = Math.max(0, Math.min(n, end - pos));
      pos += s;
      return s;
    }

    @Override
    public int available() {
      return (int) Math.min(Integer.MAX_VALUE, end - pos);
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }
}
