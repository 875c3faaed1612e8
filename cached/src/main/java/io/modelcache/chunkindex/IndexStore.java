package io.modelcache.chunkindex;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.List;

/**
 * Publishes a chunk index next to its model and finds it again, in a registry or an OCI layout,
 * through {@link ArtifactSink} and {@link ArtifactSource} (see {@link IndexArtifact} for the
 * encoding). Publishing always updates the referrers tag as well, so that clients of registries
 * without the referrers API, and layouts, find it too. Stateless.
 */
public final class IndexStore {
  private IndexStore() {}

  /** A chunk index found for a manifest: the index, its artifact's digest, and how it was found. */
  public record Found(ChunkIndex index, Digest artifact, String via) {}

  /**
   * Stores the index blob, its artifact manifest (untagged) and the referrers tag of the model
   * manifest; {@code repo} reads the tag's current index (the same repository or layout as
   * {@code sink}; null: start a new one). Returns the artifact manifest's digest.
   */
  public static Digest publish(ArtifactSink sink, ArtifactSource repo, ChunkIndex index) throws IOException {
    byte[] json = index.toJson();
    Digest blob = Digest.of(json);
    if (!sink.hasBlob(IndexArtifact.EMPTY_CONFIG_DIGEST)) {
      sink.putBlob(IndexArtifact.EMPTY_CONFIG_DIGEST, IndexArtifact.EMPTY_CONFIG.length,
          () -> new ByteArrayInputStream(IndexArtifact.EMPTY_CONFIG));
    }
    if (!sink.hasBlob(blob)) {
      sink.putBlob(blob, json.length, () -> new ByteArrayInputStream(json));
    }
    byte[] manifest = IndexArtifact.manifest(index.manifest(), blob, json.length);
    Digest artifact = sink.putManifest(null, manifest, MediaTypes.OCI_MANIFEST);
    String tag = IndexArtifact.referrersTag(index.manifest().digest());
    byte[] current = null;
    try {
      current = repo == null ? null : repo.fetchManifest(tag).bytes();
    } catch (ModelCacheException e) {
      if (e.kind() != ModelCacheException.Kind.NOT_FOUND) {
        throw e;
      }
    }
    byte[] updated = IndexArtifact.withReferrer(current,
        new Descriptor(MediaTypes.OCI_MANIFEST, artifact, manifest.length));
    sink.putManifest(tag, updated, MediaTypes.OCI_INDEX);
    return artifact;
  }

  /**
   * The newest chunk index whose subject is {@code manifest}, found through the referrers API and
   * else the referrers tag; null when there is none. The index is parsed and its subject checked,
   * but not yet accepted for a model ({@link ChunkIndex#acceptFor}).
   */
  public static Found find(ArtifactSource src, Digest manifest) throws IOException {
    byte[] api;
    try {
      api = src.referrers(manifest);
    } catch (ModelCacheException e) {
      if (e.kind() == ModelCacheException.Kind.AUTH) {
        throw e;
      }
      api = null; // the API's host is down or confused (a mirror may still serve the tag): read the tag
    }
    if (api != null) {
      List<Digest> listed = IndexArtifact.listed(api);
      if (!listed.isEmpty()) {
        return load(src, manifest, listed.getFirst(), "referrers API");
      }
    }
    FetchedManifest tag;
    try {
      tag = src.fetchManifest(IndexArtifact.referrersTag(manifest));
    } catch (ModelCacheException e) {
      if (e.kind() == ModelCacheException.Kind.NOT_FOUND) {
        return null;
      }
      throw e;
    }
    List<Digest> listed = IndexArtifact.listed(tag.bytes());
    return listed.isEmpty() ? null : load(src, manifest, listed.getFirst(), "referrers tag");
  }

  private static Found load(ArtifactSource src, Digest subject, Digest artifact, String via) throws IOException {
    FetchedManifest m = src.fetchManifest(artifact.toString());
    Descriptor blob = IndexArtifact.indexBlob(m.bytes(), subject);
    if (blob.size() > ChunkIndex.MAX_BYTES) {
      throw ModelCacheException.invalid("chunk index " + artifact + " is larger than " + ChunkIndex.MAX_BYTES + " bytes");
    }
    byte[] json = src.fetchBlob(blob.digest(), blob.size());
    return new Found(ChunkIndex.parse(json, "chunk index " + artifact), artifact, via);
  }
}
