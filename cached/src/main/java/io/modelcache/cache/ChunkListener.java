package io.modelcache.cache;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Sees every chunk after it was fetched and before it becomes visible to readers. Throwing rejects
 * the chunk: it is not stored, and the reads waiting for it fail with the thrown exception. This is
 * the seam for per-chunk verification (a later issue); the default accepts everything.
 */
@FunctionalInterface
public interface ChunkListener {
  ChunkListener NONE = (spec, chunk, bytes) -> {};

  /**
   * @param chunk index of the chunk in file coordinates
   * @param bytes read-only view of exactly the chunk's bytes; valid only during the call
   */
  void accepted(BlobSpec spec, int chunk, ByteBuffer bytes) throws IOException;
}
