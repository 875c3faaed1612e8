package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One blob pushed in a single read: the body streams through {@code PATCH} requests of
 * {@code uploadChunkSize} bytes, hashed as it goes, and the closing {@code PUT} names the digest
 * computed on the way (the registry checks it). When a PATCH fails (connection cut, 5xx, 416,
 * a replayed request), the upload URL's status ({@code GET}: its {@code Range}) says how many bytes
 * the registry holds, and the upload goes on from there with the body reopened at that offset;
 * bytes below what was already hashed are sent again but not hashed again, so the file is still
 * hashed once. Where the registry has dropped the session (Distribution 2.8 does after a PATCH cut
 * mid-body: the bytes it kept no longer match the session's signed offset), a new session starts
 * at byte 0. Failures count against the client's attempt budget, with its backoff. One use, one
 * thread.
 */
final class StreamedUpload {
  private static final Logger LOG = LoggerFactory.getLogger(StreamedUpload.class);

  private final RegistryClient client;
  private final long size;
  private final ArtifactSink.SeekableBody body;
  private final ArtifactSink.Tee tee;
  private final MessageDigest md = Digest.sha256();
  /** Bytes fed to the hash (and the tee): every byte below this was hashed once. */
  private long hashed;
  private Digest digest;
  /** How many times a session was resumed or restarted (for tests and logs). */
  private int resumes;
  private int restarts;

  StreamedUpload(RegistryClient client, long size, ArtifactSink.SeekableBody body, ArtifactSink.Tee tee) {
    this.client = client;
    this.size = size;
    this.body = body;
    this.tee = tee;
  }

  int resumes() {
    return resumes;
  }

  int restarts() {
    return restarts;
  }

  Digest run() throws IOException {
    RegistryOptions o = client.options();
    URI loc = client.startUpload("streamed upload");
    long at = 0;
    int failures = 0;
    InputStream in = null;
    try {
      while (true) {
        try {
          if (in == null) {
            in = body.open(at);
          }
          while (at < size) {
            long n = Math.min(o.uploadChunkSize(), size - at);
            HttpCall patch = HttpCall.of("PATCH", loc)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", HttpRanges.uploadContentRange(at, n))
                .withBody(new UploadSlice(in, at, n, size, this::hashOnce));
            try (HttpReply r = client.pushCall(patch)) {
              if (r.status() == 404 || r.status() == 416) {
                r.discard();
                throw new TransportException(TransportException.Kind.BROKEN, "upload session answered " + r.status(),
                    false, null);
              }
              if (r.status() != 202) {
                throw client.unexpectedReply(r, "upload of a " + size + "-byte blob");
              }
              loc = client.uploadLocation(r, "streamed upload");
            }
            at += n;
          }
          if (in.read() >= 0) {
            throw new ModelCacheException(Kind.IO, "file grew while pushing (more than " + size + " bytes)");
          }
          Digest d = digest();
          HttpCall put = HttpCall.of("PUT", RegistryClient.withQuery(loc, "digest=" + RegistryClient.enc(d.toString())));
          try (HttpReply r = client.pushCall(put)) {
            if (r.status() == 400) {
              throw ModelCacheException.digestMismatch(client.where() + ": blob " + d
                  + " failed verification at the registry (the file changed while it was pushed)");
            }
            if (r.status() != 201) {
              throw client.unexpectedReply(r, "upload of blob " + d);
            }
          }
          return d;
        } catch (TransportException e) {
          failures++;
          if (failures >= o.maxAttempts()) {
            throw client.userError(e);
          }
          close(in);
          in = null;
          sleep(o, failures);
          Status st = status(loc);
          if (st == null) {
            LOG.info("{}: upload session lost after {} bytes ({}); starting a new one", client.where(), at,
                e.shortCause());
            restarts++;
            loc = client.startUpload("streamed upload");
            at = 0;
          } else {
            if (st.held() > hashed) {
              throw new ModelCacheException(Kind.IO, client.where() + ": registry claims " + st.held()
                  + " bytes of an upload that sent " + hashed);
            }
            LOG.info("{}: upload interrupted at {} bytes ({}); the registry holds {}, going on from there",
                client.where(), at, e.shortCause(), st.held());
            resumes++;
            loc = st.location();
            at = st.held();
          }
        }
      }
    } finally {
      close(in);
    }
  }

  private Digest digest() throws ModelCacheException {
    if (digest == null) {
      if (hashed != size) {
        throw new ModelCacheException(Kind.IO, "file shrank while pushing (" + hashed + " of " + size + " bytes)");
      }
      digest = Digest.of(md);
    }
    return digest;
  }

  /** What the registry holds of the session at {@code loc}; null when it no longer knows it. */
  private record Status(URI location, long held) {}

  private Status status(URI loc) throws IOException {
    try (HttpReply r = client.pushCall(HttpCall.of("GET", loc))) {
      if (r.status() == 404 || r.status() == 400) {
        r.discard();
        return null;
      }
      if (r.status() != 204 && r.status() != 202) {
        throw client.unexpectedReply(r, "status of an upload");
      }
      URI next = r.header("Location") == null ? loc : client.uploadLocation(r, "streamed upload");
      OptionalLong end = rangeEnd(r.header("Range"));
      r.discard();
      // Distribution writes "0-0" for an empty session (and, ambiguously, for one byte): take 0.
      return new Status(next, end.isEmpty() || end.getAsLong() <= 0 ? 0 : end.getAsLong() + 1);
    } catch (TransportException e) {
      return null; // cannot ask: start over rather than guess
    }
  }

  /** The last byte of an upload status {@code Range: 0-N} (some registries send {@code bytes=0-N}). */
  static OptionalLong rangeEnd(String header) {
    if (header == null) {
      return OptionalLong.empty();
    }
    String h = header.trim();
    if (h.startsWith("bytes=")) {
      h = h.substring(6);
    }
    int dash = h.indexOf('-');
    if (dash < 0 || !h.substring(0, dash).trim().equals("0")) {
      return OptionalLong.empty();
    }
    try {
      return OptionalLong.of(Long.parseLong(h.substring(dash + 1).trim()));
    } catch (NumberFormatException e) {
      return OptionalLong.empty();
    }
  }

  private void sleep(RegistryOptions o, int failures) throws IOException {
    Duration d = o.backoff().delay(failures, ThreadLocalRandom.current().nextDouble());
    try {
      o.sleeper().sleep(d);
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while retrying an upload");
    }
  }

  private static void close(InputStream in) {
    if (in != null) {
      try {
        in.close();
      } catch (IOException ignored) {
        // reopened at the resume offset
      }
    }
  }

  /** Hashes (and tees) each byte the first time it is read: bytes sent again after a resume are not. */
  private void hashOnce(long pos, byte[] b, int off, int k) {
    if (pos + k > hashed) {
      int skip = (int) Math.max(0, hashed - pos);
      md.update(b, off + skip, k - skip);
      if (tee != null) {
        tee.update(pos + skip, b, off + skip, k - skip);
      }
      hashed = pos + k;
    }
  }
}
