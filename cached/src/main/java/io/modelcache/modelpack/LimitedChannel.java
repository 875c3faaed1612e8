package io.modelcache.modelpack;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * The next {@code limit} bytes of another channel, then end of stream; the rest stays unread in the
 * underlying channel. Closing it leaves the underlying channel open. One thread.
 */
final class LimitedChannel implements ReadableByteChannel {
  private final ReadableByteChannel in;
  private long left;

  LimitedChannel(ReadableByteChannel in, long limit) {
    this.in = in;
    this.left = limit;
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    if (left == 0) {
      return -1;
    }
    int lim = dst.limit();
    if (dst.remaining() > left) {
      dst.limit(dst.position() + (int) left);
    }
    try {
      int n = in.read(dst);
      if (n > 0) {
        left -= n;
      }
      return n;
    } finally {
      dst.limit(lim);
    }
  }

  /** Bytes of the limit not read yet (nonzero after end of stream: the underlying channel ended early). */
  long left() {
    return left;
  }

  @Override
  public boolean isOpen() {
    return in.isOpen();
  }

  @Override
  public void close() {
    // the underlying channel belongs to the caller
  }
}
