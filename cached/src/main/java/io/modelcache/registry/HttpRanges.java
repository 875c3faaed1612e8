package io.modelcache.registry;

import java.util.OptionalLong;

/** Range / Content-Range header values for blob GETs and chunked uploads. */
public final class HttpRanges {
  private HttpRanges() {}

  /** {@code bytes=a-b} for {@code [offset, offset+length)}; {@code bytes=a-} when length &lt; 0. */
  public static String rangeHeader(long offset, long length) {
    if (offset < 0) {
      throw new IllegalArgumentException("negative offset " + offset);
    }
    if (length == 0) {
      throw new IllegalArgumentException("empty range");
    }
    return length < 0 ? "bytes=" + offset + "-" : "bytes=" + offset + "-" + (offset + length - 1);
  }

  /** True when no Range header is needed (the whole blob from the start). */
  public static boolean isWhole(long offset, long length) {
    return offset == 0 && length < 0;
  }

  /**
   * Distribution's upload chunk Content-Range: {@code <first>-<last>} (no "bytes " prefix, inclusive).
   */
  public static String uploadContentRange(long offset, long length) {
    return offset + "-" + (offset + length - 1);
  }

  /** The first byte of a 206 response's {@code Content-Range: bytes a-b/total}, if parseable. */
  public static OptionalLong contentRangeStart(String header) {
    if (header == null) {
      return OptionalLong.empty();
    }
    String h = header.trim();
    if (h.startsWith("bytes ")) {
      h = h.substring(6).trim();
    }
    int dash = h.indexOf('-');
    if (dash <= 0) {
      return OptionalLong.empty();
    }
    try {
      return OptionalLong.of(Long.parseLong(h.substring(0, dash).trim()));
    } catch (NumberFormatException e) {
      return OptionalLong.empty();
    }
  }
}
