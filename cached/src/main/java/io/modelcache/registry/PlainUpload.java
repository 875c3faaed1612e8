package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.security.DigestInputStream;
import java.security.MessageDigest;

/**
 * A blob pushed from a body that can be opened again from its start: one {@code PUT} below the
 * monolithic limit, else {@code PATCH} chunks and a closing {@code PUT}. The bytes are hashed as they
 * are sent and checked against the digest before the registry is asked to commit them. One attempt:
 * the client retries the whole upload ({@link StreamedUpload} is the read-once, resuming kind).
 */
final class PlainUpload {
  private PlainUpload() {}

  /** Opens an upload session, one attempt (the whole upload is what the client retries). */
  private static URI start(RegistryClient c, Digest digest) throws IOException {
    try (HttpReply r = c.pushCall(HttpCall.of("POST", c.uploadsUrl()))) {
      if (r.status() != 202) {
        throw c.unexpectedReply(r, "upload of blob " + digest);
      }
      return c.uploadLocation(r, "upload of blob " + digest);
    }
  }

  /** One PUT with the whole body. */
  static void monolithic(RegistryClient c, Digest digest, long size, ArtifactSink.BlobBody body) throws IOException {
    URI loc = start(c, digest);
    MessageDigest[] md = new MessageDigest[1];
    HttpCall.Body b = new HttpCall.Body() {
      @Override
      public long length() {
        return size;
      }

      @Override
      public InputStream open() throws IOException {
        md[0] = Digest.sha256();
        return new DigestInputStream(body.open(), md[0]);
      }
    };
    HttpCall put = HttpCall.of("PUT", RegistryClient.withQuery(loc, "digest=" + RegistryClient.enc(digest.toString())))
        .header("Content-Type", "application/octet-stream").withBody(b);
    try (HttpReply r = c.pushCall(put)) {
      checkSent(c, digest, md[0]);
      if (r.status() != 201) {
        throw c.unexpectedReply(r, "upload of blob " + digest);
      }
    }
  }

  /** PATCH requests of the client's upload chunk size, then the closing PUT. */
  static void chunked(RegistryClient c, Digest digest, long size, ArtifactSink.BlobBody body) throws IOException {
    URI loc = start(c, digest);
    MessageDigest md = Digest.sha256();
    try (InputStream in = new DigestInputStream(body.open(), md)) {
      long off = 0;
      while (off < size) {
        long n = Math.min(c.options().uploadChunkSize(), size - off);
        HttpCall patch = HttpCall.of("PATCH", loc)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", HttpRanges.uploadContentRange(off, n))
            .withBody(new UploadSlice(in, off, n, size, null));
        try (HttpReply r = c.pushCall(patch)) {
          if (r.status() != 202) {
            throw c.unexpectedReply(r, "upload of blob " + digest);
          }
          loc = c.uploadLocation(r, "upload of blob " + digest);
        }
        off += n;
      }
      if (in.read() >= 0) {
        throw new ModelCacheException(Kind.IO, c.where() + ": blob " + digest + " is longer than its size " + size);
      }
    }
    checkSent(c, digest, md);
    HttpCall put = HttpCall.of("PUT", RegistryClient.withQuery(loc, "digest=" + RegistryClient.enc(digest.toString())));
    try (HttpReply r = c.pushCall(put)) {
      if (r.status() != 201) {
        throw c.unexpectedReply(r, "upload of blob " + digest);
      }
    }
  }

  private static void checkSent(RegistryClient c, Digest digest, MessageDigest md) throws ModelCacheException {
    if (md == null) {
      return;
    }
    Digest got = Digest.of(md);
    if (!got.equals(digest)) {
      throw ModelCacheException.digestMismatch(c.where() + ": blob " + digest + " failed verification (got " + got + ")");
    }
  }
}
