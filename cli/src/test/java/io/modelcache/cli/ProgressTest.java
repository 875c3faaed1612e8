package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressTest {
  private static final long S = 1_000_000_000L;
  private static final long MIB = 1 << 20;
  private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
  private final AtomicLong now = new AtomicLong();

  private String text() {
    return buf.toString(StandardCharsets.UTF_8);
  }

  @Test
  void plainOutputIsOneLinePerIntervalAndAFinalLine() {
    Progress p = new Progress(out, false, now::get, "pull r", 5 * S);
    p.update(0, 64 * MIB, 0);
    now.addAndGet(S);
    p.update(16 * MIB, 64 * MIB, 16 * MIB);
    now.addAndGet(4 * S);
    p.update(32 * MIB, 64 * MIB, 16 * MIB);
    p.finish("done");
    assertEquals("pull r:   0.0% cached (0 B of 64.0 MiB), 0 B/s, ETA unknown\n"
        + "pull r:  50.0% cached (32.0 MiB of 64.0 MiB), 16.0 MiB/s, ETA 2s\n"
        + "done\n", text());
  }

  @Test
  void terminalOutputRedrawsOneBarInPlace() {
    Progress p = new Progress(out, true, now::get, "pull r", 5 * S);
    p.update(16 * MIB, 64 * MIB, 8 * MIB);
    p.update(64 * MIB, 64 * MIB, 8 * MIB);
    p.finish("done");
    String first = "pull r [######..................]  25.0% cached (16.0 MiB of 64.0 MiB), 8.0 MiB/s, ETA 6s";
    String second = "pull r [########################] 100.0% cached (64.0 MiB of 64.0 MiB), 8.0 MiB/s";
    assertEquals("\r" + first + "\r" + second + " ".repeat(first.length() - second.length())
        + "\r" + " ".repeat(first.length()) + "\r" + "done\n", text());
  }

  @Test
  void durations() {
    assertEquals("59s", Progress.duration(59));
    assertEquals("3m05s", Progress.duration(185));
    assertEquals("2h03m", Progress.duration(7380));
  }
}
