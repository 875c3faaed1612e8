package io.modelcache.modelpack;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads a tar stream entry by entry (for compressed and directory layers, which cannot be range-read).
 * Entry offsets are absolute positions in the stream. Not thread-safe.
 */
public final class TarStreamReader {
  private final InputStream in;
  private long pos;
  private long contentEnd = -1; // next header position once the current entry's content is skipped

  public TarStreamReader(InputStream in) {
    this.in = in;
  }

  /** The next entry (its content not yet read), or null at the end of the archive or stream. */
  public TarEntry next() throws IOException, TarFormatException {
    if (contentEnd >= 0) {
      skipTo(contentEnd);
      contentEnd = -1;
    }
    long headerStart = pos;
    byte[] buf = new byte[512];
    int have = readUpTo(buf, 0, 512);
    if (have == 0) {
      return null;
    }
    if (have < 512) {
      throw new TarFormatException("truncated tar header at offset " + headerStart);
    }
    while (true) {
      TarLocator.Result r = TarLocator.first(buf, have);
      if (r instanceof TarLocator.End) {
        return null;
      }
      if (r instanceof TarLocator.Found f) {
        TarEntry e = f.entry();
        TarEntry abs = new TarEntry(e.name(), e.type(), e.size(), headerStart + e.contentOffset(), e.mode(),
            e.uid(), e.gid(), e.mtime());
        contentEnd = abs.nextHeaderOffset();
        return abs;
      }
      long need = ((TarLocator.NeedMore) r).bytes();
      if (need > buf.length) {
        buf = java.util.Arrays.copyOf(buf, (int) need);
      }
      int n = readUpTo(buf, have, (int) need - have);
      if (n < need - have) {
        throw new TarFormatException("truncated tar header at offset " + headerStart);
      }
      have = (int) need;
    }
  }

  /** The current position in the stream. */
  public long position() {
    return pos;
  }

  private int readUpTo(byte[] b, int off, int len) throws IOException {
    int total = 0;
    while (total < len) {
      int r = in.read(b, off + total, len - total);
      if (r < 0) {
        break;
      }
      total += r;
    }
    pos += total;
    return total;
  }

  private void skipTo(long target) throws IOException {
    byte[] scratch = null;
    while (pos < target) {
      long s = in.skip(target - pos);
      if (s <= 0) {
        if (scratch == null) {
          scratch = new byte[8192];
        }
        int r = in.read(scratch, 0, (int) Math.min(scratch.length, target - pos));
        if (r < 0) {
          throw new EOFException("tar stream ends inside an entry at " + pos);
        }
        s = r;
      }
      pos += s;
    }
  }
}
