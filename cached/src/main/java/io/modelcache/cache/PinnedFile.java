package io.modelcache.cache;

import java.io.Closeable;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A complete, verified blob's cache file held in place: until {@link #close()}, eviction neither
 * punches holes in it nor deletes it, so the file at {@link #path()} is exactly the file's bytes at
 * the same offsets ({@link #length()} of them). Obtained from {@link BlobHandle#pinFile()}; every
 * one must be closed (idempotent). Thread-safe.
 */
public final class PinnedFile implements Closeable {
  private final Path path;
  private final long length;
  private final Runnable release;
  private final AtomicBoolean closed = new AtomicBoolean();

  PinnedFile(Path path, long length, Runnable release) {
    this.path = path;
    this.length = length;
    this.release = release;
  }

  public Path path() {
    return path;
  }

  public long length() {
    return length;
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return closed.get();
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      release.run();
    }
  }

  @Override
  public String toString() {
    return "PinnedFile[" + path + ", " + length + " bytes" + (closed.get() ? ", closed]" : "]");
  }
}
