package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Lends the memory of chunks that are in {@link HotChunks} (just fetched, or just read from disk) to
 * a reader that writes them out itself, so a cold read's bytes are not copied into a reply buffer
 * before the kernel copies them again. Each lent chunk keeps its hot entry referenced (its buffer is
 * not reused) until the loan is closed, which then counts the bytes as served, exactly as a copy
 * would have. A range with any chunk not in memory is not lent: the copying read serves it.
 *
 * <p>Threading: any thread; the hot tier has its own monitor.
 */
final class ChunkLoans {
  private final HotChunks hot;
  /** A chunk read from disk and taken by a reader starts the loads ahead, as a copying read does. */
  private final DiskLoads disk;

  ChunkLoans(HotChunks hot, DiskLoads disk) {
    this.hot = hot;
    this.disk = disk;
  }

  /**
   * The bytes {@code [from, end)} of {@code b}, whose chunks the caller pinned and made present,
   * or null when one is not in memory. {@code unpin} runs when the loan is closed (the pins move to
   * the loan). Throws, holding nothing, when the blob failed its check or was dropped since
   * {@code drops} was read: its bytes are never handed out.
   */
  HeldBytes hold(Blob b, long from, long end, int drops, Runnable unpin) throws IOException {
    int first = (int) (from >>> b.chunkShift);
    int last = (int) ((end - 1) >>> b.chunkShift);
    int count = last - first + 1;
    ChunkRef[] refs = new ChunkRef[count];
    HotChunks.Entry[] entries = new HotChunks.Entry[count];
    ByteBuffer[] parts = new ByteBuffer[count];
    int[] served = new int[count];
    boolean lent = false;
    try {
      for (int k = 0; k < count; k++) {
        int i = first + k;
        refs[k] = new ChunkRef(b, i);
        entries[k] = hot.acquire(refs[k]);
        if (entries[k] == null) {
          return null;
        }
        disk.aheadFrom(b, i, entries[k]);
        long start = Math.max(from, b.chunkStart(i));
        long stop = Math.min(end, b.chunkStart(i) + b.chunkLen(i));
        served[k] = (int) (stop - start);
        parts[k] = entries[k].slice((int) (start - b.chunkStart(i)), served[k]);
      }
      if (b.state == BlobState.FAILED || b.drops.get() != drops) {
        throw Verifier.failure(b);
      }
      HeldBytes held = new HeldBytes(parts, (int) (end - from), () -> {
        for (int j = 0; j < count; j++) {
          hot.release(refs[j], entries[j], served[j]);
        }
        unpin.run();
      });
      lent = true;
      return held;
    } finally {
      if (!lent) { // give back what was taken, nothing served
        for (int j = 0; j < count; j++) {
          if (entries[j] != null) {
            hot.release(refs[j], entries[j], 0);
          }
        }
      }
    }
  }
}
