package io.modelcache.fuse;

import java.nio.file.Path;

/**
 * A regular file that holds exactly an open file's content, which a transport may hand to the
 * kernel so that reads and mmap of the open file are served from it without the daemon (FUSE
 * passthrough, {@code FOPEN_PASSTHROUGH}). Obtained from {@link ReadOnlyTree.FileReader#backing()}.
 *
 * <p>Contract: from the moment it is handed out until {@link #close()}, the file at {@link #path()}
 * is {@link #length()} bytes long and its bytes at every offset are the open file's bytes at that
 * offset; whoever handed it out keeps it so (no hole punched, not truncated, not replaced). The
 * transport opens it read-only, registers it with the kernel, and closes this object once the kernel
 * released the open file. Thread-safe; {@link #close()} is idempotent.
 */
public interface BackingFile extends AutoCloseable {
  /** The backing file, to be opened read-only. */
  Path path();

  /** Its size in bytes, which is the open file's size. */
  long length();

  /** Releases the guarantee above (the transport no longer reads the file through the kernel). */
  @Override
  void close();
}
