package io.modelcache.modelpack;

import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * Pure parser of the header block(s) at the start of a tar: USTAR (with prefix), PAX extended headers
 * ({@code path}, {@code size}, {@code mtime}, {@code uid}, {@code gid}) and GNU long names ({@code L})
 * and base-256 numbers. It needs no I/O: give it the bytes read so far and it either finds the entry,
 * says how many bytes it needs, or reports the end-of-archive marker.
 */
public final class TarLocator {
  /** Extended headers bigger than this are refused rather than buffered. */
  public static final int MAX_EXTENDED_HEADER = 1 << 20;

  private TarLocator() {}

  /** What {@link #first} found. */
  public sealed interface Result permits Found, NeedMore, End {}

  /** The first entry; its content starts at {@code entry.contentOffset()}. */
  public record Found(TarEntry entry) implements Result {}

  /** Call again with at least {@code bytes} bytes from the same start. */
  public record NeedMore(long bytes) implements Result {}

  /** An all-zero block: the end of the archive. */
  public record End() implements Result {}

  public static long padded(long n) {
    return (n + 511) & ~511L;
  }

  /** Parses the headers of the first entry in {@code buf[0, len)}. */
  public static Result first(byte[] buf, int len) throws TarFormatException {
    int pos = 0;
    String longName = null;
    String paxPath = null;
    Long paxSize = null;
    Instant paxMtime = null;
    Integer paxUid = null;
    Integer paxGid = null;
    while (true) {
      if (pos + 512 > len) {
        return new NeedMore(pos + 512L);
      }
      if (isZero(buf, pos)) {
        return new End();
      }
      verifyChecksum(buf, pos);
      char type = (char) (buf[pos + 156] & 0xff);
      long size = number(buf, pos + 124, 12, "size");
      if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (size > MAX_EXTENDED_HEADER) {
          throw new TarFormatException("extended header of " + size + " bytes at offset " + pos);
        }
        long end = pos + 512L + padded(size);
        if (end > len) {
          return new NeedMore(end);
        }
        int start = pos + 512;
        if (type == 'L') {
          longName = cstring(buf, start, (int) size);
        } else if (type == 'x') {
          for (String[] kv : paxRecords(buf, start, (int) size)) {
            switch (kv[0]) {
              case "path" -> paxPath = kv[1];
              case "size" -> paxSize = parseLong(kv[1], "pax size");
              case "mtime" -> paxMtime = paxTime(kv[1]);
              case "uid" -> paxUid = (int) parseLong(kv[1], "pax uid");
              case "gid" -> paxGid = (int) parseLong(kv[1], "pax gid");
              default -> { }
            }
          }
        }
        // 'g' (global) and 'K' (long link name) do not change where or what the file is.
        pos = (int) end;
        continue;
      }
      String name = longName != null ? longName : paxPath != null ? paxPath : ustarName(buf, pos);
      long realSize = paxSize != null ? paxSize : size;
      int mode = (int) number(buf, pos + 100, 8, "mode") & 07777;
      int uid = paxUid != null ? paxUid : (int) number(buf, pos + 108, 8, "uid");
      int gid = paxGid != null ? paxGid : (int) number(buf, pos + 116, 8, "gid");
      Instant mtime = paxMtime != null ? paxMtime : Instant.ofEpochSecond(number(buf, pos + 136, 12, "mtime"));
      return new Found(new TarEntry(name, type, realSize, pos + 512L, mode, uid, gid, mtime));
    }
  }

  private static boolean isZero(byte[] b, int pos) {
    for (int i = pos; i < pos + 512; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }

  private static void verifyChecksum(byte[] b, int pos) throws TarFormatException {
    long stored = number(b, pos + 148, 8, "checksum");
    long unsigned = 0;
    long signed = 0;
    for (int i = 0; i < 512; i++) {
      int v = (i >= 148 && i < 156) ? ' ' : b[pos + i];
      unsigned += v & 0xff;
      signed += (i >= 148 && i < 156) ? ' ' : b[pos + i];
    }
    if (stored != unsigned && stored != signed) {
      throw new TarFormatException("bad tar header checksum at offset " + pos);
    }
  }

  private static String ustarName(byte[] b, int pos) {
    String name = cstring(b, pos, 100);
    boolean posix = b[pos + 257] == 'u' && b[pos + 262] == 0 && cstring(b, pos + 257, 6).equals("ustar");
    if (posix) {
      String prefix = cstring(b, pos + 345, 155);
      if (!prefix.isEmpty()) {
        return prefix + "/" + name;
      }
    }
    return name;
  }

  static String cstring(byte[] b, int off, int max) {
    int end = off;
    while (end < off + max && b[end] != 0) {
      end++;
    }
    return new String(b, off, end - off, StandardCharsets.UTF_8);
  }

  /** Octal (space/NUL terminated) or GNU base-256 (high bit of the first byte set). */
  static long number(byte[] b, int off, int len, String field) throws TarFormatException {
    if ((b[off] & 0x80) != 0) {
      if ((b[off] & 0x40) != 0) {
        throw new TarFormatException("negative base-256 " + field);
      }
      long v = b[off] & 0x3f;
      for (int i = 1; i < len; i++) {
        if ((v >>> 55) != 0) {
          throw new TarFormatException("base-256 " + field + " too large");
        }
        v = (v << 8) | (b[off + i] & 0xff);
      }
      return v;
    }
    int i = off;
    int end = off + len;
    while (i < end && (b[i] == ' ' || b[i] == 0)) {
      i++;
    }
    long v = 0;
    boolean any = false;
    for (; i < end && b[i] != ' ' && b[i] != 0; i++) {
      int c = b[i] - '0';
      if (c < 0 || c > 7) {
        throw new TarFormatException("invalid octal " + field);
      }
      v = (v << 3) | c;
      any = true;
    }
    return any ? v : 0;
  }

  private static java.util.List<String[]> paxRecords(byte[] b, int off, int len) throws TarFormatException {
    java.util.List<String[]> out = new java.util.ArrayList<>();
    int p = off;
    int end = off + len;
    while (p < end && b[p] != 0) {
      int sp = p;
      while (sp < end && b[sp] != ' ') {
        sp++;
      }
      if (sp >= end) {
        throw new TarFormatException("malformed pax record");
      }
      long recLen = parseLong(new String(b, p, sp - p, StandardCharsets.US_ASCII), "pax record length");
      if (recLen <= sp - p + 1 || p + recLen > end || b[(int) (p + recLen - 1)] != '\n') {
        throw new TarFormatException("malformed pax record");
      }
      String rec = new String(b, sp + 1, (int) (p + recLen - 1 - (sp + 1)), StandardCharsets.UTF_8);
      int eq = rec.indexOf('=');
      if (eq <= 0) {
        throw new TarFormatException("malformed pax record");
      }
      out.add(new String[] {rec.substring(0, eq), rec.substring(eq + 1)});
      p += (int) recLen;
    }
    return out;
  }

  private static long parseLong(String s, String what) throws TarFormatException {
    try {
      long v = Long.parseLong(s.trim());
      if (v < 0) {
        throw new NumberFormatException();
      }
      return v;
    } catch (NumberFormatException e) {
      throw new TarFormatException("invalid " + what + " '" + s + "'");
    }
  }

  private static Instant paxTime(String s) throws TarFormatException {
    int dot = s.indexOf('.');
    long sec = parseLong(dot < 0 ? s : s.substring(0, dot), "pax mtime");
    long nanos = 0;
    if (dot >= 0) {
      String frac = (s.substring(dot + 1) + "000000000").substring(0, 9);
      nanos = parseLong(frac, "pax mtime");
    }
    return Instant.ofEpochSecond(sec, nanos);
  }
}
