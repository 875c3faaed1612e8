package io.modelcache.modelpack;

import java.time.Instant;

/**
 * One tar entry after its header blocks (USTAR, plus any PAX or GNU long-name blocks before it).
 * {@code contentOffset} is relative to where parsing started.
 */
public record TarEntry(
    String name, char type, long size, long contentOffset, int mode, int uid, int gid, Instant mtime) {
  public boolean isRegular() {
    return type == '0' || type == '\0' || type == '7';
  }

  public boolean isDirectory() {
    return type == '5';
  }

  /** Offset just past the content and its padding to a 512-byte boundary. */
  public long nextHeaderOffset() {
    return contentOffset + TarLocator.padded(size);
  }
}
