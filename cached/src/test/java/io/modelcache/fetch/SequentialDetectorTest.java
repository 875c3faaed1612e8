package io.modelcache.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SequentialDetectorTest {
  static final long K = 1024;
  static final long M = 1024 * K;

  @Test
  void windowGrowsWhileReadsStaySequentialAndRequestsStayFew() {
    SequentialDetector d = new SequentialDetector(8 * M, 64 * M, 1 * M);
    List<SequentialDetector.Decision> out = new ArrayList<>();
    for (long pos = 0; pos < 512 * M; pos += 128 * K) {
      SequentialDetector.Decision x = d.onRead(pos, 128 * K);
      if (x != null) {
        out.add(x);
      }
    }
    assertEquals(64 * M, d.window());
    assertEquals(new SequentialDetector.Decision(128 * K, 128 * K + 8 * M), out.get(0));
    for (int i = 1; i < out.size(); i++) {
      assertEquals(out.get(i - 1).to(), out.get(i).from(), "requests continue where the last ended");
    }
    assertTrue(out.size() < 20, "a 512 MiB scan in 128 KiB reads costs few read-ahead requests: " + out.size());
    for (int i = 4; i < out.size(); i++) {
      assertEquals(64 * M, out.get(i).length(), "at full window, each request is a whole window: " + out);
    }
    // what was asked for stays ahead of the reader
    assertTrue(out.get(out.size() - 1).to() >= 512 * M);
  }

  @Test
  void mmapFaultsWithSmallGapsAndBackStepsCountAsSequential() {
    SequentialDetector d = new SequentialDetector(2 * M, 64 * M, 1 * M);
    long[][] reads = {{0, 128}, {256, 128}, {128, 128}, {512, 128}, {384, 128}, {1024, 128}, {768, 128},
        {1536, 128}, {1280, 128}, {2048, 128}};
    for (long[] r : reads) {
      d.onRead(r[0] * K, r[1] * K);
      assertTrue(d.window() >= 2 * M, "still sequential after read at " + r[0] + " KiB");
    }
  }

  @Test
  void randomAccessResetsTheWindow() {
    SequentialDetector d = new SequentialDetector(2 * M, 64 * M, 1 * M);
    for (long pos = 0; pos < 64 * M; pos += M) {
      d.onRead(pos, M);
    }
    assertTrue(d.window() > 2 * M);
    assertNull(d.onRead(900 * M, 4 * K));
    assertEquals(0, d.window());
    // the next read that continues from there starts a fresh, small window
    SequentialDetector.Decision x = d.onRead(900 * M + 4 * K, 4 * K);
    assertNotNull(x);
    assertEquals(2 * M, d.window());
    assertEquals(900 * M + 8 * K, x.from());
    assertEquals(900 * M + 8 * K + 2 * M, x.to());
  }

  @Test
  void aFirstReadInTheMiddleWaitsForASecondBeforeFetchingAhead() {
    SequentialDetector d = new SequentialDetector(2 * M, 8 * M, 0);
    assertNull(d.onRead(10 * M, 4 * K));
    assertNotNull(d.onRead(10 * M + 4 * K, 4 * K));
  }
}
