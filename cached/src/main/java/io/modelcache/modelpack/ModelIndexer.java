package io.modelcache.modelpack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdInputStream;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.chunkindex.ChunkHasher;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Builds the chunk digest index of a model that is already stored (pushed by another client): each
 * layer blob is downloaded once, checked against its layer digest, and its files' chunks hashed on
 * the way (after decompression for compressed layers, so the index is in file coordinates). Also
 * gives the manifest facts an index is accepted against. Stateless.
 */
public final class ModelIndexer {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelIndexer() {}

  /** The model manifest as a descriptor (the index's subject). */
  public static Descriptor subject(ModelArtifact art) {
    return new Descriptor(art.manifest().mediaType(), art.manifest().digest(), art.manifest().bytes().length);
  }

  /** The manifest's layer digests, in order. */
  public static List<Digest> layers(ModelArtifact art) throws IOException {
    List<Digest> out = new ArrayList<>();
    for (JsonNode l : JSON.readTree(art.manifest().bytes()).path("layers")) {
      out.add(Digest.parse(l.path("digest").asText("")));
    }
    return out;
  }

  /** Where the manifest puts each file. */
  public static List<ChunkIndex.FileRef> files(ModelArtifact art) {
    List<ChunkIndex.FileRef> out = new ArrayList<>();
    for (ModelFile f : art.files()) {
      out.add(new ChunkIndex.FileRef(f.path(), f.layer().digest(), f.contentOffset(), f.size()));
    }
    return out;
  }

  /** The chunk digests of each file by path, accepted for this model; fails as {@link ChunkIndex#acceptFor}. */
  public static Map<String, ChunkDigests> accept(ChunkIndex index, ModelArtifact art) throws IOException {
    return index.acceptFor(art.manifest().digest(), layers(art), files(art));
  }

  /** Downloads every layer once and builds the index; a layer whose digest does not match fails (exit 8). */
  public static ChunkIndex build(ArtifactSource src, ModelArtifact art, int chunkSize) throws IOException {
    Map<Digest, List<ModelFile>> byLayer = new LinkedHashMap<>();
    for (ModelFile f : art.files()) {
      byLayer.computeIfAbsent(f.layer().digest(), d -> new ArrayList<>()).add(f);
    }
    List<ChunkIndex.FileEntry> entries = new ArrayList<>();
    for (List<ModelFile> files : byLayer.values()) {
      Descriptor layer = files.getFirst().layer();
      List<ChunkHasher> hashers = new ArrayList<>();
      for (ModelFile f : files) {
        hashers.add(new ChunkHasher(f.contentOffset(), f.size(), chunkSize));
      }
      MessageDigest md = Digest.sha256();
      long[] raw = new long[1];
      try (InputStream blob = src.openBlob(layer.digest(), 0, -1)) {
        InputStream counted = new FilterInputStream(blob) {
          @Override
          public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
          }

          @Override
          public long skip(long n) throws IOException {
            int r = read(new byte[(int) Math.max(0, Math.min(n, 1 << 16))]);
            return Math.max(0, r);
          }

          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            int r = super.read(b, off, len);
            if (r > 0) {
              md.update(b, off, r);
              raw[0] += r;
            }
            return r;
          }
        };
        LayerFormat fmt = files.getFirst().format();
        InputStream content = switch (fmt) {
          case RAW, TAR -> counted;
          case TAR_GZIP -> new GZIPInputStream(counted, 1 << 16);
          case TAR_ZSTD -> new ZstdInputStream(counted);
        };
        byte[] buf = new byte[1 << 20];
        long pos = 0;
        int r;
        while ((r = content.read(buf)) > 0) {
          for (ChunkHasher h : hashers) {
            h.update(pos, buf, 0, r);
          }
          pos += r;
        }
        counted.transferTo(java.io.OutputStream.nullOutputStream());
      }
      if (raw[0] != layer.size() || !Digest.of(md).equals(layer.digest())) {
        throw ModelCacheException.digestMismatch(src.reference() + ": layer " + layer.digest() + " failed verification");
      }
      for (int i = 0; i < files.size(); i++) {
        ModelFile f = files.get(i);
        if (!hashers.get(i).complete()) {
          throw ModelCacheException.invalid(src.reference() + ": layer " + layer.digest() + " ends before file " + f.path());
        }
        entries.add(new ChunkIndex.FileEntry(f.path(), layer.digest(), f.contentOffset(), hashers.get(i).finish()));
      }
    }
    return new ChunkIndex(subject(art), layers(art), chunkSize, entries);
  }
}
