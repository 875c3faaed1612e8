package io.modelcache.cache;

import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.security.MessageDigest;

/**
 * Checks a file's cache chunks against its {@link ChunkDigests} as they arrive in file order, in
 * one pass over the bytes, whatever the two sizes are. A cache chunk holding several granules is
 * hashed granule by granule and passes or fails at once. A granule spanning several cache chunks
 * is hashed as its chunks arrive; those chunks are {@link Result#PENDING} until its last one, then
 * pass or fail together, so that none of them is published before the granule is checked.
 *
 * <p>One per fetch, used by one thread at a time; pure (no I/O).
 */
final class ChunkVerifier {
  /** What {@link #feed} found for the chunks from {@link #from()} to the chunk just fed. */
  enum Result { PASS, PENDING, FAIL }

  private final ChunkDigests digests;
  private final int chunkShift;
  private final MessageDigest md = Digest.sha256();
  /** Cache chunks per granule when granules are larger than chunks, else 1. */
  private final int perGranule;
  private int from = -1;
  private int next = -1;
  private int failedGranule = -1;
  private byte[] failedDigest;

  ChunkVerifier(ChunkDigests digests, int chunkSize) {
    this.digests = digests;
    this.chunkShift = Integer.numberOfTrailingZeros(chunkSize);
    this.perGranule = Math.max(1, digests.granule() >>> chunkShift);
  }

  /** The first cache chunk of the granule holding chunk i: where a fetch must start to check i. */
  int alignDown(int chunk) {
    return chunk - chunk % perGranule;
  }

  /** The last cache chunk of the granule holding chunk i (at most nChunks - 1). */
  int alignUp(int chunk, int nChunks) {
    return Math.min(nChunks - 1, alignDown(chunk) + perGranule - 1);
  }

  /** Starts over at cache chunk i (a granule's first chunk when granules span chunks). */
  void restartAt(int chunk) {
    if (chunk % perGranule != 0) {
      throw new IllegalArgumentException("chunk " + chunk + " does not start a granule of " + perGranule + " chunks");
    }
    md.reset();
    from = chunk;
    next = chunk;
  }

  /** The first chunk covered by the last result. */
  int from() {
    return from;
  }

  /** The granule that failed last, and what its bytes hashed to (for telling a bad index from bad bytes). */
  int failedGranule() {
    return failedGranule;
  }

  byte[] failedDigest() {
    return failedDigest;
  }

  /** Feeds cache chunk i, which must be the next one; {@code bytes} from position to limit is the whole chunk. */
  Result feed(int chunk, ByteBuffer bytes) {
    if (chunk != next) {
      throw new IllegalStateException("chunk " + chunk + " fed out of order (expected " + next + ")");
    }
    next++;
    long start = (long) chunk << chunkShift;
    if (perGranule > 1) {
      md.update(bytes.duplicate());
      long end = start + bytes.remaining();
      int g = (int) (start >>> digests.shift());
      boolean last = end == digests.length() || ((end >>> chunkShift) % perGranule) == 0;
      if (!last) {
        return Result.PENDING;
      }
      from = alignDown(chunk);
      return check(g, md.digest());
    }
    from = chunk;
    ByteBuffer b = bytes.duplicate();
    int g = (int) (start >>> digests.shift());
    int base = b.position();
    for (int off = 0; off < bytes.remaining(); g++) {
      int n = digests.granuleLength(g);
      b.limit(base + off + n).position(base + off);
      md.update(b);
      if (check(g, md.digest()) == Result.FAIL) {
        return Result.FAIL;
      }
      off += n;
    }
    return Result.PASS;
  }

  private Result check(int g, byte[] got) {
    if (g >= digests.granules() || !digests.matches(g, got)) {
      failedGranule = g;
      failedDigest = got;
      return Result.FAIL;
    }
    return Result.PASS;
  }
}
