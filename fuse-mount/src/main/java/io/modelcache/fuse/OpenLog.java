package io.modelcache.fuse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The open file handles of one kept FUSE connection, in a file that outlives the server process,
 * so that the next server taking the connection over knows what the kernel holds: which handles
 * are open, in which mode (passthrough or daemon path) and on which backing id. The kernel keeps a
 * passthrough open's backing file on the connection but tells a new server nothing: without this,
 * a new open of a file held in passthrough would be answered in the wrong mode or with another
 * backing (EIO to the reader), the cache file would not be pinned (eviction could punch a hole
 * under the kernel's reads), and the backing id would never be closed.
 *
 * <p>Format: text, one record per line, appended with one write(2) each, before the reply that
 * makes the record true goes to the kernel (so a server killed at any point leaves at most a
 * record of an open the kernel never got: the kernel still waits for that OPEN, sends it again to
 * the next server after FUSE_NOTIFY_RESEND, and that server answers it with the record). First line {@code modelcache-opens 1 epoch N} (N counts the servers of the connection and
 * keeps file handles of different servers apart); then {@code + FH p|d BACKING UNIQUE} for an open
 * and {@code - FH} for its release (FH and UNIQUE, the OPEN request's id, in hex; UNIQUE may be
 * missing). The request id lets the next server answer a resent OPEN whose record was written but
 * whose reply never reached the kernel with the recorded handle, so that no record outlives its
 * open (see {@code PassthroughHook#resent}). A server that takes the connection over reads it,
 * then rewrites it compacted with the next epoch. A torn last line is ignored.
 *
 * <p>Threading: thread-safe (synchronized); the caller already serialises opens per mount. I/O
 * failures are logged once and never fail an open.
 */
public final class OpenLog implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OpenLog.class);
  static final String MAGIC = "modelcache-opens 1 epoch ";

  /**
   * One open handle: its fh, whether it is a passthrough open, its backing id (or 0) and the
   * unique of the OPEN request that made it (0: not known).
   */
  public record Entry(long fh, boolean passthrough, int backingId, long unique) {
    public Entry(long fh, boolean passthrough, int backingId) {
      this(fh, passthrough, backingId, 0);
    }
  }

  /** What a log says: the epoch of the server that wrote it and the handles still open. */
  public record State(int epoch, List<Entry> open) {
    public State {
      open = List.copyOf(open);
    }
  }

  private final Path file;
  private final int epoch;
  private final List<Entry> resumed;
  private FileChannel ch;
  private final Map<Long, Entry> live = new LinkedHashMap<>();
  private int lines;
  private boolean failed;

  private OpenLog(Path file, int epoch, List<Entry> resumed) {
    this.file = file;
    this.epoch = epoch;
    this.resumed = List.copyOf(resumed);
    for (Entry e : resumed) {
      live.put(e.fh(), e);
    }
  }

  /** A new connection's log (epoch 0): whatever an earlier connection of the same mount left is dropped. */
  public static OpenLog fresh(Path file) {
    OpenLog l = new OpenLog(file, 0, List.of());
    l.rewrite();
    return l;
  }

  /** The log of a connection taken over: what the previous server left open, then the next epoch. */
  public static OpenLog resume(Path file) {
    State s = new State(0, List.of());
    try {
      if (Files.exists(file)) {
        s = parse(Files.readAllLines(file, StandardCharsets.UTF_8));
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot read open handles from {}: {}; files open across the restart are not pinned", file, e.toString());
    }
    OpenLog l = new OpenLog(file, (s.epoch() + 1) & 0xff, s.open());
    l.rewrite();
    return l;
  }

  /** Parses a log's lines (pure). Lines that do not parse (a torn last write) are skipped. */
  public static State parse(List<String> lines) {
    int epoch = 0;
    Map<Long, Entry> open = new LinkedHashMap<>();
    for (String line : lines) {
      try {
        if (line.startsWith(MAGIC)) {
          epoch = Integer.parseInt(line.substring(MAGIC.length()).strip());
        } else if (line.startsWith("+ ")) {
          String[] f = line.split(" ");
          if ((f.length == 4 || f.length == 5) && (f[2].equals("p") || f[2].equals("d"))) {
            long fh = Long.parseUnsignedLong(f[1], 16);
            long unique = f.length == 5 ? Long.parseUnsignedLong(f[4], 16) : 0;
            open.put(fh, new Entry(fh, f[2].equals("p"), Integer.parseInt(f[3]), unique));
          }
        } else if (line.startsWith("- ")) {
          open.remove(Long.parseUnsignedLong(line.substring(2).strip(), 16));
        }
      } catch (NumberFormatException e) {
        // a torn or foreign line: what it said is unknown, the rest still counts
      }
    }
    return new State(epoch, new ArrayList<>(open.values()));
  }

  static String openLine(Entry e) {
    return "+ " + Long.toHexString(e.fh()) + " " + (e.passthrough() ? "p" : "d") + " " + e.backingId()
        + (e.unique() != 0 ? " " + Long.toHexString(e.unique()) : "") + "\n";
  }

  static String releaseLine(long fh) {
    return "- " + Long.toHexString(fh) + "\n";
  }

  /** This server's epoch (0 for a fresh connection, then 1, 2, ... modulo 256). */
  public int epoch() {
    return epoch;
  }

  /** The handles the previous server left open (empty for a fresh connection). */
  public List<Entry> resumed() {
    return resumed;
  }

  /** Records an open; called before its reply is written. */
  public synchronized void opened(Entry e) {
    live.put(e.fh(), e);
    append(openLine(e));
  }

  /** Records a release. */
  public synchronized void released(long fh) {
    if (live.remove(fh) != null) {
      append(releaseLine(fh));
      if (lines > 4096 && lines > 4 * live.size()) {
        rewrite(); // keep the file proportional to what is open
      }
    }
  }

  /** The connection is gone: nothing is open any more. */
  public synchronized void delete() {
    close();
    live.clear();
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      LOG.debug("cannot delete {}: {}", file, e.toString());
    }
  }

  @Override
  public synchronized void close() {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException e) {
        LOG.debug("closing {}: {}", file, e.toString());
      }
      ch = null;
    }
  }

  private void append(String line) {
    if (ch == null) {
      rewrite();
      return; // the rewrite wrote what is live, this entry included
    }
    try {
      ByteBuffer b = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
      while (b.hasRemaining()) {
        ch.write(b);
      }
      lines++;
    } catch (IOException e) {
      failed("append to", e);
    }
  }

  /** Writes the header and every live entry to a new file, renamed over the old one. */
  private void rewrite() {
    close();
    StringBuilder sb = new StringBuilder(MAGIC).append(epoch).append('\n');
    for (Entry e : live.values()) {
      sb.append(openLine(e));
    }
    try {
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      Files.writeString(tmp, sb, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
      lines = 1 + live.size();
    } catch (IOException e) {
      failed("write", e);
    }
  }

  private void failed(String what, IOException e) {
    if (!failed) {
      failed = true;
      LOG.warn("cannot {} {} ({}): files open at a restart may not be pinned by the next daemon", what, file,
          e.toString());
    }
  }

  @Override
  public String toString() {
    return "OpenLog[" + file + ", epoch " + epoch + "]";
  }
}
