package io.modelcache.fetch;

/**
 * Decides how far ahead to fetch for one reader, from its reads alone (pure, no I/O, no clock).
 *
 * <p>Why "near-sequential": mmap faults reach FUSE as page-aligned reads of up to read_ahead_kb,
 * often issued by several threads at once, so they arrive slightly out of order, with small gaps
 * (pages already in the page cache) and small back-steps. A read counts as sequential when it lands
 * between {@code slack} bytes behind the furthest byte read so far and {@code slack} bytes past it.
 * The window starts at {@code initial}, doubles each time the reader has used half of what was asked
 * for, up to {@code max}, and is dropped on a random access. New fetches are only issued once less
 * than half a window is left ahead, and each asks for a whole window, so a stream of small reads
 * costs a few large requests.
 *
 * <p>Coordinates are whatever the caller uses: file offsets, or a {@link ReadPlan}'s coordinates
 * (then "sequential" means "following the loader's order"). Not thread-safe by itself; callers
 * synchronize on it.
 */
public final class SequentialDetector {
  /** Fetch {@code [from, to)} ahead of the reader. */
  public record Decision(long from, long to) {
    public long length() {
      return to - from;
    }
  }

  private final long initial;
  private final long max;
  private final long slack;
  private long furthest = -1;
  private long window;
  private long issuedUntil;

  public SequentialDetector(long initial, long max, long slack) {
    if (initial <= 0 || max < initial || slack < 0) {
      throw new IllegalArgumentException("need 0 < initial <= max and slack >= 0");
    }
    this.initial = initial;
    this.max = max;
    this.slack = slack;
  }

  /** Records a read of {@code length} bytes at {@code pos}; returns what to fetch ahead, or null. */
  public Decision onRead(long pos, long length) {
    long end = pos + Math.max(0, length);
    if (furthest < 0) {
      furthest = end;
      if (pos == 0) {
        window = initial; // a read from the very start is most likely the start of a scan
        issuedUntil = end;
        return issue(end);
      }
      return null;
    }
    boolean near = pos >= furthest - Math.max(slack, window) && pos <= furthest + slack;
    if (!near) {
      window = 0;
      furthest = end;
      issuedUntil = end;
      return null;
    }
    furthest = Math.max(furthest, end);
    if (window == 0) {
      window = initial;
      issuedUntil = Math.max(issuedUntil, furthest);
    } else if (issuedUntil - furthest < window / 2) {
      window = Math.min(max, window * 2);
    }
    return issue(furthest);
  }

  private Decision issue(long from) {
    long ahead = issuedUntil - from;
    if (ahead >= window / 2 && ahead > 0) {
      return null;
    }
    long start = Math.max(from, issuedUntil);
    // A whole window per request (not just the top-up to one window ahead): the registry's CPU per
    // GiB falls with request size (bench/run, docs/performance.md), and the reader keeps between
    // half a window and one and a half ahead.
    long to = start + window;
    if (to <= start) {
      return null;
    }
    issuedUntil = to;
    return new Decision(start, to);
  }

  /** The current window (0 after a random access). */
  public long window() {
    return window;
  }
}
