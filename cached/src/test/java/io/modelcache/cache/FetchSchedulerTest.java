package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.Test;

class FetchSchedulerTest {
  /** Collects granted tasks; the test decides when they "run" and finish. */
  static final class ManualExecutor implements Executor {
    final ArrayDeque<Runnable> started = new ArrayDeque<>();
    boolean reject;

    @Override
    public void execute(Runnable r) {
      if (reject) {
        throw new RejectedExecutionException("closed");
      }
      started.add(r);
    }

    List<String> drainNames() {
      List<String> out = new ArrayList<>();
      while (!started.isEmpty()) {
        out.add(started.poll().toString());
      }
      return out;
    }
  }

  record Named(String name) implements Runnable {
    @Override
    public void run() {}

    @Override
    public String toString() {
      return name;
    }
  }

  @Test
  void demandNeverWaitsBehindReadAheadOrFill() {
    ManualExecutor ex = new ManualExecutor();
    FetchScheduler s = new FetchScheduler(4, 1, 2, ex);
    List<FetchScheduler.Ticket> ra = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ra.add(s.submit(FetchPriority.READ_AHEAD, new Named("ra" + i), () -> {}));
    }
    for (int i = 0; i < 3; i++) {
      s.submit(FetchPriority.FILL, new Named("fill" + i), () -> {});
    }
    // read-ahead may use 3 of 4 slots; one stays for a reader
    assertEquals(List.of("ra0", "ra1", "ra2"), ex.drainNames());
    s.submit(FetchPriority.DEMAND, new Named("d0"), () -> {});
    assertEquals(List.of("d0"), ex.drainNames());
    // all slots busy: the next demand fetch is first in line, ahead of queued read-ahead and fill
    FetchScheduler.Ticket d1 = s.submit(FetchPriority.DEMAND, new Named("d1"), () -> {});
    assertTrue(s.isQueued(d1));
    s.finish(ra.get(0));
    assertEquals(List.of("d1"), ex.drainNames());
    s.finish(ra.get(1));
    s.finish(ra.get(2));
    assertEquals(List.of("ra3"), ex.drainNames(), "d0, d1 and ra3 hold 3 slots; 4th is reserved");
    assertEquals(3, s.running());
    assertEquals(1 + 3, s.queued(), "ra4 and three fills wait");
  }

  @Test
  void fillIsCappedAndComesLast() {
    ManualExecutor ex = new ManualExecutor();
    FetchScheduler s = new FetchScheduler(8, 2, 2, ex);
    List<FetchScheduler.Ticket> fills = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      fills.add(s.submit(FetchPriority.FILL, new Named("f" + i), () -> {}));
    }
    assertEquals(List.of("f0", "f1"), ex.drainNames());
    s.submit(FetchPriority.READ_AHEAD, new Named("r0"), () -> {});
    assertEquals(List.of("r0"), ex.drainNames());
    s.finish(fills.get(0));
    assertEquals(List.of("f2"), ex.drainNames());
    s.finish(fills.get(0)); // idempotent: does not free a second slot
    assertEquals(List.of(), ex.drainNames());
    assertEquals(3, s.running());
  }

  @Test
  void boostMovesAQueuedFetchToTheFront() {
    ManualExecutor ex = new ManualExecutor();
    FetchScheduler s = new FetchScheduler(2, 1, 1, ex);
    FetchScheduler.Ticket d = s.submit(FetchPriority.DEMAND, new Named("d"), () -> {});
    FetchScheduler.Ticket r0 = s.submit(FetchPriority.READ_AHEAD, new Named("r0"), () -> {});
    FetchScheduler.Ticket r1 = s.submit(FetchPriority.READ_AHEAD, new Named("r1"), () -> {});
    assertEquals(List.of("d"), ex.drainNames(), "the second slot is reserved for demand");
    s.boost(r1);
    assertEquals(List.of("r1"), ex.drainNames(), "a reader blocked on r1: it may use the reserved slot");
    assertEquals(FetchPriority.DEMAND, r1.priority());
    s.finish(d);
    assertEquals(List.of(), ex.drainNames(), "r0 is still read-ahead and one slot must stay free");
    s.finish(r1);
    assertEquals(List.of("r0"), ex.drainNames());
    assertFalse(s.isQueued(r0));
  }

  @Test
  void finishingAQueuedTicketDropsIt() {
    ManualExecutor ex = new ManualExecutor();
    FetchScheduler s = new FetchScheduler(1, 0, 1, ex);
    FetchScheduler.Ticket a = s.submit(FetchPriority.DEMAND, new Named("a"), () -> {});
    FetchScheduler.Ticket b = s.submit(FetchPriority.DEMAND, new Named("b"), () -> {});
    s.finish(b);
    s.finish(a);
    assertEquals(List.of("a"), ex.drainNames());
    assertEquals(0, s.running());
    assertEquals(0, s.queued());
    FetchScheduler.Ticket c = s.ticket(FetchPriority.DEMAND, new Named("c"), () -> {});
    s.finish(c);
    s.submit(c);
    assertEquals(List.of(), ex.drainNames(), "a ticket ended before submit never runs");
  }

  @Test
  void rejectedTaskFreesItsSlotAndRunsTheRejectHook() {
    ManualExecutor ex = new ManualExecutor();
    ex.reject = true;
    FetchScheduler s = new FetchScheduler(2, 0, 1, ex);
    List<String> rejected = new ArrayList<>();
    s.submit(FetchPriority.DEMAND, new Named("a"), () -> rejected.add("a"));
    assertEquals(List.of("a"), rejected);
    assertEquals(0, s.running());
    assertTrue(s.wouldStart(FetchPriority.READ_AHEAD));
  }

  @Test
  void reservationIsClampedSoOneSlotStillServesReadAhead() {
    ManualExecutor ex = new ManualExecutor();
    FetchScheduler s = FetchScheduler.forSlots(1, ex);
    s.submit(FetchPriority.READ_AHEAD, new Named("r"), () -> {});
    assertEquals(List.of("r"), ex.drainNames());
  }
}
