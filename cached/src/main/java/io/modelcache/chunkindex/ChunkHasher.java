package io.modelcache.chunkindex;

import io.modelcache.cache.ChunkDigests;
import io.modelcache.oci.Digest;
import java.security.MessageDigest;

/**
 * Hashes one file's content chunk by chunk as it streams past. Bytes are given with their position
 * in the stream that holds the file (a raw or tar blob, or a decompressed layer); only those of
 * {@code [contentOffset, contentOffset + size)} are hashed, so the hasher can ride on the one read
 * that also hashes the layer. Bytes must come in stream order. One thread at a time.
 */
public final class ChunkHasher {
  private final long contentOffset;
  private final long size;
  private final int chunkSize;
  private final byte[] out;
  private final MessageDigest md = Digest.sha256();
  private long done;
  private int chunk;

  public ChunkHasher(long contentOffset, long size, int chunkSize) {
    if (chunkSize < ChunkDigests.MIN_GRANULE || chunkSize > ChunkDigests.MAX_GRANULE || Integer.bitCount(chunkSize) != 1) {
      throw new IllegalArgumentException("chunk size must be a power of two from 4 KiB to 1 GiB, got " + chunkSize);
    }
    this.contentOffset = contentOffset;
    this.size = size;
    this.chunkSize = chunkSize;
    this.out = new byte[Math.toIntExact((size + chunkSize - 1) / chunkSize * 32)];
  }

  /** Feeds {@code b[off, off+len)}, which sits at {@code streamPos} in the stream. */
  public void update(long streamPos, byte[] b, int off, int len) {
    long from = Math.max(streamPos, contentOffset + done);
    long to = Math.min(streamPos + len, contentOffset + size);
    while (from < to) {
      long chunkEnd = contentOffset + Math.min(size, (long) (chunk + 1) * chunkSize);
      int n = (int) (Math.min(to, chunkEnd) - from);
      md.update(b, off + (int) (from - streamPos), n);
      from += n;
      done += n;
      if (contentOffset + done == chunkEnd) {
        finishChunk();
      }
    }
  }

  private void finishChunk() {
    byte[] d = md.digest();
    System.arraycopy(d, 0, out, chunk * 32, 32);
    chunk++;
  }

  /** Whether every content byte was fed. */
  public boolean complete() {
    return done == size;
  }

  /** The file's chunk digests; fails if bytes are missing. */
  public ChunkDigests finish() {
    if (!complete()) {
      throw new IllegalStateException("file content incomplete: " + done + " of " + size + " bytes hashed");
    }
    return new ChunkDigests(chunkSize, size, out);
  }
}
