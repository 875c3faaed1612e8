package io.modelcache.registry;

import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;

/**
 * The body of a blob response, skipping {@code skip} bytes and ending after {@code limit} (-1: all):
 * a 200 to a ranged GET (a registry that ignores Range) is read from the offset asked for, and a
 * body that ends before its limit is an error, never a short blob. One reader at a time.
 */
final class BlobStream extends InputStream implements java.nio.channels.ReadableByteChannel {
  private final String where;
  private final Digest digest;
  private final HttpReply reply;
  private final InputStream in;
  private long toSkip;
  private final long limit;
  private long delivered;

  BlobStream(String where, Digest digest, HttpReply reply, long skip, long limit) {
    this.where = where;
    this.digest = digest;
    this.reply = reply;
    this.in = reply.body();
    this.toSkip = skip;
    this.limit = limit;
  }

  private void skipPrefix() throws IOException {
    while (toSkip > 0) {
      long k = in.skip(toSkip);
      if (k <= 0) {
        throw new IOException(where + ": blob " + digest + " ended before the requested offset");
      }
      toSkip -= k;
    }
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n < 0 ? -1 : one[0] & 0xff;
  }

  /** One upstream read of at most {@code want} bytes, into whatever the caller reads into. */
  private interface Step {
    int read(int want) throws IOException;
  }

  /** One read of at most {@code max} bytes through {@code step}, under the range's skip and limit. */
  private int bounded(int max, Step step) throws IOException {
    try {
      skipPrefix();
      if (limit >= 0 && delivered >= limit) {
        return -1;
      }
      int want = limit >= 0 ? (int) Math.min(max, limit - delivered) : max;
      int n = step.read(want);
      if (n < 0) {
        if (limit >= 0) {
          throw new IOException(where + ": blob " + digest + " ended after " + delivered + " of " + limit + " bytes");
        }
        return -1;
      }
      delivered += n;
      return n;
    } catch (TransportException e) {
      throw new IOException(where + ": blob " + digest + " read failed (" + e.shortCause() + ")", e);
    }
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    return len == 0 ? 0 : bounded(len, want -> in.read(b, off, want));
  }

  /** Straight into {@code dst} (one copy out of Netty's buffers) when the body is a channel. */
  @Override
  public int read(java.nio.ByteBuffer dst) throws IOException {
    if (!dst.hasRemaining()) {
      return 0;
    }
    if (!(in instanceof java.nio.channels.ReadableByteChannel ch)) {
      byte[] tmp = new byte[Math.min(dst.remaining(), 64 << 10)];
      int n = read(tmp, 0, tmp.length);
      if (n > 0) {
        dst.put(tmp, 0, n);
      }
      return n;
    }
    return bounded(dst.remaining(), want -> {
      int lim = dst.limit();
      dst.limit(dst.position() + want);
      try {
        return ch.read(dst);
      } finally {
        dst.limit(lim);
      }
    });
  }

  @Override
  public boolean isOpen() {
    return true;
  }

  @Override
  public void close() {
    reply.close();
  }
}
