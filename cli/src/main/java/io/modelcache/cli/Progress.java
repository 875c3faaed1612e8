package io.modelcache.cli;

import io.modelcache.config.Sizes;
import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Shows a transfer's progress: on a terminal one bar redrawn in place with {@code \r}; otherwise
 * (logs, pipes, CI) a plain line at most every {@code lineInterval} and always the first one, so
 * output stays readable line by line. Single-threaded.
 */
final class Progress {
  private static final int BAR = 24;

  private final PrintStream out;
  private final boolean tty;
  private final LongSupplier nanos;
  private final String label;
  private final long lineIntervalNanos;
  private long lastLine = Long.MIN_VALUE;
  private int lastWidth;

  Progress(PrintStream out, boolean tty, LongSupplier nanos, String label, long lineIntervalNanos) {
    this.out = out;
    this.tty = tty;
    this.nanos = nanos;
    this.label = label;
    this.lineIntervalNanos = lineIntervalNanos;
  }

  /** For the real terminal (or not) of this process. */
  static Progress forStdout(String label) {
    return new Progress(System.out, isTerminal(), System::nanoTime, label, 5_000_000_000L);
  }

  /**
   * Whether standard input and output are a terminal. JDK 22+ returns a Console even when redirected
   * and says so through {@code isTerminal()}; compiled for 21, it is looked up reflectively.
   */
  static boolean isTerminal() {
    Console c = System.console();
    if (c == null) {
      return false;
    }
    try {
      return (Boolean) Console.class.getMethod("isTerminal").invoke(c);
    } catch (ReflectiveOperationException e) {
      return true;
    }
  }

  void update(long done, long total, double bytesPerSecond) {
    if (tty) {
      String line = barLine(done, total, bytesPerSecond);
      int pad = Math.max(0, lastWidth - line.length());
      out.print("\r" + line + " ".repeat(pad));
      out.flush();
      lastWidth = line.length() + pad;
      return;
    }
    long now = nanos.getAsLong();
    if (lastLine == Long.MIN_VALUE || now - lastLine >= lineIntervalNanos) {
      lastLine = now;
      out.println(label + ": " + stats(done, total, bytesPerSecond));
      out.flush();
    }
  }

  /** Ends the bar (if any) and prints the final line. */
  void finish(String finalLine) {
    if (tty && lastWidth > 0) {
      out.print("\r" + " ".repeat(lastWidth) + "\r");
    }
    out.println(finalLine);
    out.flush();
  }

  /** Leaves a drawn bar on its own line before an error is printed. */
  void abandon() {
    if (tty && lastWidth > 0) {
      out.println();
      out.flush();
    }
  }

  String barLine(long done, long total, double rate) {
    double f = total <= 0 ? 1.0 : Math.min(1.0, (double) done / total);
    int filled = (int) Math.round(f * BAR);
    return label + " [" + "#".repeat(filled) + ".".repeat(BAR - filled) + "] " + stats(done, total, rate);
  }

  static String stats(long done, long total, double rate) {
    double pct = total <= 0 ? 100.0 : Math.min(100.0, 100.0 * done / total);
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "%5.1f%% cached (%s of %s)", pct,
        Sizes.format(done), Sizes.format(total)));
    s.append(", ").append(Sizes.format(Math.round(rate))).append("/s");
    long left = total - done;
    if (left > 0) {
      s.append(", ETA ").append(rate >= 1 ? duration(Math.round(left / rate)) : "unknown");
    }
    return s.toString();
  }

  /** {@code 45s}, {@code 3m05s}, {@code 2h03m}. */
  static String duration(long seconds) {
    if (seconds < 60) {
      return seconds + "s";
    }
    if (seconds < 3600) {
      return String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
    }
    return String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
  }
}
