package io.modelcache.modelpack;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

/**
 * Builds a deterministic single-file tar (USTAR, with a PAX header when the path, size or ids do not
 * fit) as header bytes + the file's content + padding + the two-block end marker. The content is
 * streamed, never buffered.
 */
public final class TarWriter {
  private static final long MAX_OCTAL_11 = 077777777777L;
  private static final int MAX_OCTAL_7 = 07777777;

  private TarWriter() {}

  /** Header block(s) for one regular file. */
  public static byte[] header(String name, long size, int mode, int uid, int gid, Instant mtime) {
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    boolean pax = nameBytes.length > 100 || size > MAX_OCTAL_11 || uid > MAX_OCTAL_7 || gid > MAX_OCTAL_7
        || uid < 0 || gid < 0 || !isAscii(nameBytes);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (pax) {
      StringBuilder recs = new StringBuilder();
      recs.append(paxRecord("path", name));
      recs.append(paxRecord("size", Long.toString(size)));
      if (uid > MAX_OCTAL_7 || uid < 0) {
        recs.append(paxRecord("uid", Integer.toUnsignedString(uid)));
      }
      if (gid > MAX_OCTAL_7 || gid < 0) {
        recs.append(paxRecord("gid", Integer.toUnsignedString(gid)));
      }
      byte[] body = recs.toString().getBytes(StandardCharsets.UTF_8);
      String paxName = "PaxHeaders/" + asciiTail(name, 80);
      out.writeBytes(block(paxName, body.length, 0644, 0, 0, mtime.getEpochSecond(), 'x'));
      out.writeBytes(body);
      out.writeBytes(new byte[(int) (TarLocator.padded(body.length) - body.length)]);
      out.writeBytes(block(asciiTail(name, 100), 0, mode, clampId(uid), clampId(gid), mtime.getEpochSecond(), '0'));
    } else {
      out.writeBytes(block(name, size, mode, uid, gid, mtime.getEpochSecond(), '0'));
    }
    return out.toByteArray();
  }

  /** Total tar size for a file of {@code size} bytes with the given header. */
  public static long tarSize(byte[] header, long size) {
    return header.length + TarLocator.padded(size) + 1024;
  }

  /** The whole tar as a stream: header, content, padding, end marker. */
  public static InputStream stream(byte[] header, long size, InputStream content) {
    int pad = (int) (TarLocator.padded(size) - size);
    List<InputStream> parts = List.of(new java.io.ByteArrayInputStream(header), exactly(content, size),
        new java.io.ByteArrayInputStream(new byte[pad + 1024]));
    return new SequenceInputStream(java.util.Collections.enumeration(parts));
  }

  /** Fails if the content is not exactly {@code size} bytes (the file changed while packing). */
  private static InputStream exactly(InputStream in, long size) {
    return new java.io.FilterInputStream(in) {
      long left = size;

      @Override
      public int read() throws IOException {
        byte[] b = new byte[1];
        return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (left == 0) {
          return -1;
        }
        int r = in.read(b, off, (int) Math.min(len, left));
        if (r < 0) {
          throw new IOException("file shrank while packing (" + left + " bytes missing)");
        }
        left -= r;
        return r;
      }
    };
  }

  private static int clampId(int id) {
    return id < 0 || id > MAX_OCTAL_7 ? 0 : id;
  }

  private static boolean isAscii(byte[] b) {
    for (byte x : b) {
      if (x < 0x20) {
        return false;
      }
    }
    return true;
  }

  private static String asciiTail(String s, int max) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      b.append(c < 0x80 && c >= 0x20 ? c : '_');
    }
    String r = b.toString();
    return r.length() <= max ? r : r.substring(r.length() - max);
  }

  private static String paxRecord(String key, String value) {
    String kv = " " + key + "=" + value + "\n";
    int bodyLen = kv.getBytes(StandardCharsets.UTF_8).length;
    int len = bodyLen + 1;
    while (Integer.toString(len).length() + bodyLen != len) {
      len = Integer.toString(len).length() + bodyLen;
    }
    return len + kv;
  }

  private static byte[] block(String name, long size, int mode, int uid, int gid, long mtime, char type) {
    byte[] h = new byte[512];
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(n, 0, h, 0, Math.min(100, n.length));
    octal(h, 100, 8, mode & 07777);
    octal(h, 108, 8, uid);
    octal(h, 116, 8, gid);
    octal(h, 124, 12, Math.min(size, MAX_OCTAL_11));
    octal(h, 136, 12, Math.max(0, Math.min(mtime, MAX_OCTAL_11)));
    h[156] = (byte) type;
    System.arraycopy("ustar\0".getBytes(StandardCharsets.US_ASCII), 0, h, 257, 6);
    h[263] = '0';
    h[264] = '0';
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    octal(h, 148, 7, sum);
    h[155] = ' ';
    return h;
  }

  /** Zero-padded octal of width len-1 followed by NUL. */
  private static void octal(byte[] h, int off, int len, long v) {
    String s = Long.toOctalString(v);
    int width = len - 1;
    while (s.length() < width) {
      s = "0" + s;
    }
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, b.length - width, h, off, width);
    h[off + width] = 0;
  }
}
