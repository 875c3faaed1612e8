package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.IOException;
import java.io.InputStream;

/**
 * The next {@code n} bytes of a shared upload stream, at blob position {@code start}, as the body of
 * one {@code PATCH}. Sendable once: the stream has moved on, so a replay by the transport fails as a
 * broken connection and the uploader decides (a chunked upload starts over, a streamed one resumes
 * from the registry's status). A stream that ends early means the file shrank while it was pushed.
 * Every byte read is shown to the {@link Observer}, in order, before the transport sends it.
 */
final class UploadSlice implements HttpCall.Body {
  /** Sees the bytes of the slice as they are read: {@code len} bytes at blob position {@code pos}. */
  @FunctionalInterface
  interface Observer {
    void read(long pos, byte[] b, int off, int len);
  }

  private final InputStream in;
  private final long start;
  private final long n;
  private final long blobSize;
  private final Observer observer;
  private boolean opened;

  /** {@code observer} may be null. */
  UploadSlice(InputStream in, long start, long n, long blobSize, Observer observer) {
    this.in = in;
    this.start = start;
    this.n = n;
    this.blobSize = blobSize;
    this.observer = observer;
  }

  @Override
  public long length() {
    return n;
  }

  @Override
  public InputStream open() throws IOException {
    if (opened) {
      throw new TransportException(TransportException.Kind.BROKEN, "upload chunk interrupted", true, null);
    }
    opened = true;
    return new InputStream() {
      long pos = start;

      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        long left = start + n - pos;
        if (left <= 0) {
          return -1;
        }
        if (len == 0) {
          return 0;
        }
        int k = in.read(b, off, (int) Math.min(len, left));
        if (k < 0) {
          throw new ModelCacheException(Kind.IO, "file shrank while pushing (ends at " + pos + " of " + blobSize
              + " bytes)");
        }
        if (observer != null && k > 0) {
          observer.read(pos, b, off, k);
        }
        pos += k;
        return k;
      }
    };
  }
}
