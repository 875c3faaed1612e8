package io.modelcache.fuse;

import java.nio.ByteBuffer;

/**
 * Bytes a {@link ReadOnlyTree.FileReader} lends a transport for one read reply: the reader's own
 * memory, held for the caller until {@link #close}. Why: a reader that already holds the bytes in
 * memory (a chunk just fetched) would otherwise copy them into the transport's reply buffer only for
 * the kernel to copy them once more; the kernel transport writes the reply straight from these
 * buffers (one writev of header and parts). The bytes are verified and do not change while lent.
 *
 * <p>Threading: used and closed by the one worker that asked for it. Close exactly once.
 */
public interface Loan extends AutoCloseable {
  /** Direct buffers whose remaining bytes, in order, are the reply's data. */
  ByteBuffer[] parts();

  /** Bytes in all parts: the requested length, shorter only at end of file; at least 1. */
  int length();

  /** Gives the bytes back to the reader. */
  @Override
  void close();
}
