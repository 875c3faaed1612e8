package io.modelcache.cache;

import io.modelcache.oci.Digest;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What to cache: one file's bytes, located inside a layer blob.
 *
 * @param key the cache key and file name under {@code dir/blobs/}; see {@link #keyFor}
 * @param digest the layer blob's digest (of the compressed bytes for GZIP/ZSTD)
 * @param blobSize the layer blob's size in bytes (compressed size for GZIP/ZSTD)
 * @param encoding how the blob stores the file
 * @param contentOffset where the file starts: in the blob for RAW (0 for a raw layer, &gt;0 for a
 *     tar member), in the decompressed stream for GZIP/ZSTD
 * @param contentLength the file's size
 */
public record BlobSpec(
    String key, Digest digest, long blobSize, Encoding encoding, long contentOffset, long contentLength) {
  private static final Pattern SAFE_KEY = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,200}");

  public BlobSpec {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(digest, "digest");
    Objects.requireNonNull(encoding, "encoding");
    if (!SAFE_KEY.matcher(key).matches()) {
      throw new IllegalArgumentException("invalid cache key '" + key + "' (letters, digits, '.', '_', '-' only)");
    }
    if (blobSize < 0 || contentOffset < 0 || contentLength < 0) {
      throw new IllegalArgumentException("negative size or offset in blob spec for " + key);
    }
    if (encoding == Encoding.RAW && contentOffset + contentLength > blobSize) {
      throw new IllegalArgumentException("file range [" + contentOffset + ", " + (contentOffset + contentLength)
          + ") lies outside blob " + digest + " of " + blobSize + " bytes");
    }
  }

  /** A raw layer: the blob is the file. */
  public static BlobSpec raw(Digest digest, long size) {
    return of(digest, size, Encoding.RAW, 0, size);
  }

  /** Any layout, with the key the cache uses for it ({@link #keyFor}). */
  public static BlobSpec of(Digest digest, long blobSize, Encoding encoding, long contentOffset, long contentLength) {
    return new BlobSpec(keyFor(digest, encoding, contentOffset), digest, blobSize, encoding, contentOffset, contentLength);
  }

  /** {@code hex} for RAW content (raw layer or tar member), {@code hex-contentOffset} for compressed layers. */
  public static String keyFor(Digest digest, Encoding encoding, long contentOffset) {
    return encoding == Encoding.RAW ? digest.hex() : digest.hex() + "-" + contentOffset;
  }
}
