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

  Reference reference();

  boolean hasBlob(Digest digest) throws IOException;

  /** Uploads a blob of {@code size} bytes; verifies the digest of what was sent. */
  void putBlob(Digest digest, long size, BlobBody body) throws IOException;

  /** Stores a manifest under {@code tag} (may be null for digest-only) and returns its digest. */
  Digest putManifest(String tag, byte[] bytes, String mediaType) throws IOException;
}
