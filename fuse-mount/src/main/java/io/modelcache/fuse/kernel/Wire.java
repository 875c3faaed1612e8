package io.modelcache.fuse.kernel;

import static io.modelcache.fuse.kernel.sys.FuseAbi.off;

import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * Reading and writing the protocol's fields: little-endian, unaligned (a request's argument starts
 * right after its 40-byte header), and the out header every reply begins with. Pure; thread-safe.
 */
final class Wire {
  private Wire() {}

  /** Writes {@code fuse_out_header}; returns {@code len}. */
  static int header(MemorySegment reply, int len, int error, long unique) {
    set32(reply, off(FuseAbi.OUT_HEADER, "len"), len);
    set32(reply, off(FuseAbi.OUT_HEADER, "error"), error);
    set64(reply, off(FuseAbi.OUT_HEADER, "unique"), unique);
    return len;
  }

  /** The NUL-terminated UTF-8 string at {@code offset} of {@code s} (to its end when unterminated). */
  static String cstring(MemorySegment s, long offset) {
    long end = offset;
    while (end < s.byteSize() && s.get(ValueLayout.JAVA_BYTE, end) != 0) {
      end++;
    }
    byte[] b = s.asSlice(offset, end - offset).toArray(ValueLayout.JAVA_BYTE);
    return new String(b, StandardCharsets.UTF_8);
  }

  static int u32(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_INT_UNALIGNED, off);
  }

  static long u64(MemorySegment s, long off) {
    return s.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
  }

  static void set16(MemorySegment s, long off, int v) {
    s.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, (short) v);
  }

  static void set32(MemorySegment s, long off, int v) {
    s.set(ValueLayout.JAVA_INT_UNALIGNED, off, v);
  }

  static void set64(MemorySegment s, long off, long v) {
    s.set(ValueLayout.JAVA_LONG_UNALIGNED, off, v);
  }

  /** {@code n} rounded up to 8, the alignment of directory entries. */
  static int align8(int n) {
    return (n + 7) & ~7;
  }
}
