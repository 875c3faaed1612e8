package io.modelcache.fuse;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * The size-probe protocol of getxattr/listxattr for both transports, without FUSE: a size-0 query returns the length
 * needed, a too-small buffer gets ERANGE, otherwise the caller copies the bytes and returns their
 * length.
 */
public final class Xattrs {
  private Xattrs() {}

  /**
   * What getxattr/listxattr returns for a value of {@code needed} bytes and a caller buffer of
   * {@code size} bytes: {@code needed} (copy when size > 0), or -ERANGE.
   */
  public static int result(int needed, long size) {
    if (size == 0 || size >= needed) {
      return needed;
    }
    return -Errno.ERANGE;
  }

  /** The listxattr payload: every name followed by a NUL, in a stable (sorted) order. */
  public static byte[] nameList(Map<String, byte[]> xattrs) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (String name : new TreeMap<>(xattrs).keySet()) {
      out.writeBytes(name.getBytes(StandardCharsets.UTF_8));
      out.write(0);
    }
    return out.toByteArray();
  }

  /** The errno when an attribute is missing: ENODATA on Linux. */
  public static int missing() {
    return -Errno.ENODATA;
  }
}
