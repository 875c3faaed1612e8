package io.modelcache.cache;

import java.security.MessageDigest;
import java.util.Arrays;

/**
 * The expected sha256 of each granule of one file's content, in file coordinates: granule {@code g}
 * covers file bytes {@code [g·granule, min((g+1)·granule, length))}. What a chunk digest index says
 * about one file, in the form the cache checks arriving chunks against. Immutable.
 */
public final class ChunkDigests {
  public static final int MIN_GRANULE = 4 << 10;
  public static final int MAX_GRANULE = 1 << 30;

  private final int granule;
  private final int shift;
  private final long length;
  private final byte[] sha256s;

  /**
   * @param granule a power of two from 4 KiB to 1 GiB
   * @param length the file's size
   * @param sha256s 32 bytes per granule, {@code ceil(length / granule)} granules
   */
  public ChunkDigests(int granule, long length, byte[] sha256s) {
    if (granule < MIN_GRANULE || granule > MAX_GRANULE || Integer.bitCount(granule) != 1) {
      throw new IllegalArgumentException("chunk size must be a power of two from 4 KiB to 1 GiB, got " + granule);
    }
    if (length < 0) {
      throw new IllegalArgumentException("negative file length " + length);
    }
    long n = count(length, granule);
    if (sha256s.length != n * 32) {
      throw new IllegalArgumentException(n + " chunk digests needed for " + length + " bytes in chunks of "
          + granule + ", got " + sha256s.length / 32.0);
    }
    this.granule = granule;
    this.shift = Integer.numberOfTrailingZeros(granule);
    this.length = length;
    this.sha256s = sha256s.clone();
  }

  static long count(long length, int granule) {
    return (length + granule - 1) / granule;
  }

  public int granule() {
    return granule;
  }

  int shift() {
    return shift;
  }

  public long length() {
    return length;
  }

  public int granules() {
    return (int) count(length, granule);
  }

  long granuleStart(int g) {
    return (long) g << shift;
  }

  int granuleLength(int g) {
    return (int) (Math.min(length, granuleStart(g) + granule) - granuleStart(g));
  }

  /** The expected digest of granule g (a copy). */
  public byte[] digest(int g) {
    return Arrays.copyOfRange(sha256s, g * 32, g * 32 + 32);
  }

  /** Whether {@code sha256} (32 bytes) is the expected digest of granule g, in constant time. */
  boolean matches(int g, byte[] sha256) {
    return MessageDigest.isEqual(sha256, digest(g));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ChunkDigests d && d.granule == granule && d.length == length && Arrays.equals(d.sha256s, sha256s);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(sha256s) * 31 + granule;
  }

  @Override
  public String toString() {
    return "ChunkDigests[" + granules() + " x " + granule + " B over " + length + " B]";
  }
}
