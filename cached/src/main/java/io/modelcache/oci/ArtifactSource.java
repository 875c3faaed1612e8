package io.modelcache.oci;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/**
 * Where artifacts are read from: a registry repository or an OCI image layout. Implementations are
 * thread-safe and may be shared by every reader of a mount. Failures are
 * {@link io.modelcache.error.ModelCacheException}s with one-line messages naming the reference.
 */
public interface ArtifactSource extends Closeable {
  /** The repository (or layout) this source reads, for messages. */
  Reference reference();

  /**
   * The manifest or index for a tag or a {@code sha256:} digest, bytes exactly as served. When asked
   * by digest, the bytes are verified against it. Unknown tags and digests fail with NOT_FOUND.
   */
  FetchedManifest fetchManifest(String tagOrDigest) throws IOException;

  /** A whole small blob (config, index), verified against its digest; fails beyond maxBytes. */
  byte[] fetchBlob(Digest digest, long maxBytes) throws IOException;

  /**
   * Raw bytes {@code [offset, offset+length)} of a blob ({@code length < 0}: to the end). Not verified:
   * the caller hashes. The stream ends early only by throwing.
   */
  InputStream openBlob(Digest digest, long offset, long length) throws IOException;

  /**
   * As {@link #openBlob(Digest, long, long)} for the {@code attempt}-th refetch of bytes that failed
   * their check (0: the first fetch); a source with mirrors starts at the next one.
   */
  default InputStream openBlob(Digest digest, long offset, long length, int attempt) throws IOException {
    return openBlob(digest, offset, length);
  }

  /**
   * The OCI 1.1 referrers index of {@code subject} from the distribution-spec referrers API, or null
   * where the source has no such API (the caller then reads the referrers tag {@code sha256-<hex>}).
   */
  default byte[] referrers(Digest subject) throws IOException {
    return null;
  }
}
