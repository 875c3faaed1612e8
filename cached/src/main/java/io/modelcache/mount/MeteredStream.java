package io.modelcache.mount;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * An upstream byte stream that reports what it received: bytes as they arrive, in batches of up
 * to {@link #BATCH} (so a failed fetch still counts what was sent, without a metrics update per
 * socket read), and the fetch's duration when it is closed.
 */
final class MeteredStream extends FilterInputStream implements ReadableByteChannel {
  /** Where the counts go. */
  interface Sink {
    void bytes(long n);

    void done(long nanos);
  }

  private final Sink sink;
  private final long started;
  private boolean closed;
  static final int BATCH = 1 << 20;
  /** Atomic: close() may run on another thread (a reader aborting a stuck fetch). */
  private final java.util.concurrent.atomic.AtomicLong unreported = new java.util.concurrent.atomic.AtomicLong();

  MeteredStream(InputStream in, Sink sink, long started) {
    super(in);
    this.sink = sink;
    this.started = started;
  }

  @Override
  public int read() throws IOException {
    int b = super.read();
    if (b >= 0) {
      count(1);
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = super.read(b, off, len);
    if (n > 0) {
      count(n);
    }
    return n;
  }

  /** Passes a direct-buffer read through when upstream supports it (one copy less per byte). */
  @Override
  public int read(ByteBuffer dst) throws IOException {
    int n;
    if (in instanceof ReadableByteChannel ch) {
      n = ch.read(dst);
    } else {
      byte[] tmp = new byte[Math.min(dst.remaining(), 64 << 10)];
      n = in.read(tmp, 0, tmp.length);
      if (n > 0) {
        dst.put(tmp, 0, n);
      }
    }
    if (n > 0) {
      count(n);
    }
    return n;
  }

  @Override
  public boolean isOpen() {
    return !closed;
  }

  @Override
  public long skip(long n) throws IOException {
    long s = super.skip(n);
    if (s > 0) {
      count(s);
    }
    return s;
  }

  private void count(long n) {
    if (unreported.addAndGet(n) >= BATCH) {
      long u = unreported.getAndSet(0);
      if (u > 0) {
        sink.bytes(u);
      }
    }
  }

  @Override
  public void close() throws IOException {
    if (!closed) {
      closed = true;
      long u = unreported.getAndSet(0);
      if (u > 0) {
        sink.bytes(u);
      }
      sink.done(System.nanoTime() - started);
    }
    super.close();
  }
}
