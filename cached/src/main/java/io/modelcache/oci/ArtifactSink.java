package io.modelcache.oci;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/** Where artifacts are written: a registry repository or an OCI image layout. Thread-safe. */
public interface ArtifactSink extends Closeable {
  /** Bytes of a blob to upload; {@link #open} may be called again to retry from the start. */
  interface BlobBody {
    InputStream open() throws IOException;
  }

  /** Bytes of a blob that can be read again from any offset (to resume an upload there). */
  interface SeekableBody {
    InputStream open(long offset) throws IOException;
  }

  /** Sees each byte of a streamed upload exactly once, in order, with its position in the blob. */
  interface Tee {
    void update(long position, byte[] b, int off, int len);
  }

  Reference reference();

  /**
   * Whether {@link #putStreamed} reads a blob of {@code size} bytes once (hashing while it uploads)
   * rather than needing its digest first. False: the caller hashes, then {@link #putBlob}s.
   */
  default boolean streamsUploads(long size) {
    return false;
  }

  /**
   * Uploads {@code size} bytes read once from {@code body}, hashing them as they go (each byte is also
   * given to {@code tee} once), and returns their digest. An interrupted upload goes on from what the
   * destination already holds. Only where {@link #streamsUploads} says so.
   */
  default Digest putStreamed(long size, SeekableBody body, Tee tee) throws IOException {
    throw new UnsupportedOperationException("streamed uploads");
  }

  boolean hasBlob(Digest digest) throws IOException;

  /** Uploads a blob of {@code size} bytes; verifies the digest of what was sent. */
  void putBlob(Digest digest, long size, BlobBody body) throws IOException;

  /** Stores a manifest under {@code tag} (may be null for digest-only) and returns its digest. */
  Digest putManifest(String tag, byte[] bytes, String mediaType) throws IOException;
}
