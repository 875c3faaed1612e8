package io.modelcache.cache;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A file range's verified bytes as the cache's own memory (chunks just fetched or just read from
 * disk), lent to a caller that writes them out without copying them first. While held, the chunks
 * stay pinned (not evicted) and their buffers are not reused. Close it when done with the bytes;
 * closing again does nothing.
 */
public final class HeldBytes implements AutoCloseable {
  private final ByteBuffer[] parts;
  private final int length;
  private final Runnable release;
  private final AtomicBoolean closed = new AtomicBoolean();

  HeldBytes(ByteBuffer[] parts, int length, Runnable release) {
    this.parts = parts;
    this.length = length;
    this.release = release;
  }

  /** Read-only direct views, in file order, whose remaining bytes are the range. */
  public ByteBuffer[] parts() {
    return parts;
  }

  public int length() {
    return length;
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      release.run();
    }
  }
}
