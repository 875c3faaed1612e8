package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateWindowTest {
  private static final long S = 1_000_000_000L;
  private final AtomicLong now = new AtomicLong(100 * S);
  private final RateWindow w = new RateWindow(now::get);

  @Test
  void zeroBeforeTheFirstWholeSecond() {
    w.add(1000);
    now.addAndGet(S / 2);
    assertEquals(0.0, w.perSecond());
    assertEquals(1000, w.total());
  }

  @Test
  void aYoungWindowAveragesOverTheSecondsSoFar() {
    w.add(3000);
    now.addAndGet(S);
    w.add(1000);
    now.addAndGet(S);
    assertEquals(2000.0, w.perSecond());
  }

  @Test
  void onlyTheLastFiveCompletedSecondsCount() {
    for (int i = 0; i < 10; i++) {
      w.add(i < 5 ? 100 : 1000);
      now.addAndGet(S);
    }
    w.add(1_000_000); // the current, incomplete second is not counted
    assertEquals(1000.0, w.perSecond());
    now.addAndGet(10 * S);
    assertEquals(0.0, w.perSecond());
  }

  @Test
  void trackerCountsFailedReadsButNotMissingNames() {
    List<String> forwarded = new ArrayList<>();
    Clock wall = Clock.fixed(Instant.parse("2026-11-22T06:00:00.5Z"), ZoneOffset.UTC);
    OperatorOps.MountTracker t = new OperatorOps.MountTracker(w, (op, nanos, result) -> forwarded.add(op + result), wall);
    t.completed("getattr", 1, -2);
    t.completed("open", 1, -2);
    t.completed("getxattr", 1, -61);
    t.completed("read", 1, 4096);
    assertEquals(0, t.errors());
    t.completed("read", 1, -5);
    t.completed("read", 1, -110);
    assertEquals(2, t.errors());
    assertEquals("read failed with ETIMEDOUT at 2026-11-22T06:00:00Z", t.lastError());
    assertEquals(List.of("getattr-2", "open-2", "getxattr-61", "read4096", "read-5", "read-110"), forwarded);
    t.fetched(500);
    assertEquals(500, w.total());
  }
}
