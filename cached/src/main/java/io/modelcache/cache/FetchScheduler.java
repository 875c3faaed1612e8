package io.modelcache.cache;

import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Hands out the cache's upstream request slots by priority. Pure scheduling logic: time is not
 * involved and tasks run on the injected executor only once granted a slot, so a queue of
 * read-ahead or fill work never occupies executor threads that an on-demand fetch needs.
 *
 * <p>Rules (why): a {@link FetchPriority#DEMAND} fetch may take any free slot, and is queued ahead
 * of everything else; lower priorities may only use slots beyond {@code reserved}, so a process
 * that blocks in a read never waits behind read-ahead or fill that already hold every connection
 * (the registry client caps connections per host, so the total stays at {@code slots}). Fill may
 * hold at most {@code maxFill} slots at once. Within a priority, first come first served. A queued
 * fetch that a blocked reader joins can be {@link #boost boosted} to DEMAND.
 *
 * <p>Thread-safe (one monitor; tasks are executed outside it).
 */
final class FetchScheduler {
  /** One submitted task. States: queued, running, done; {@link #finish} is idempotent. */
  static final class Ticket {
    private volatile FetchPriority priority;
    private final long seq;
    private final Runnable task;
    private final Runnable onReject;
    private int state; // 0 queued, 1 running, 2 done
    private boolean countedFill;

    private Ticket(FetchPriority priority, long seq, Runnable task, Runnable onReject) {
      this.priority = priority;
      this.seq = seq;
      this.task = task;
      this.onReject = onReject;
    }

    FetchPriority priority() {
      return priority;
    }
  }

  private final int slots;
  private final int reserved;
  private final int maxFill;
  private final Executor executor;
  private final TreeSet<Ticket> queue = new TreeSet<>((a, b) -> {
    int c = a.priority.compareTo(b.priority);
    return c != 0 ? c : Long.compare(a.seq, b.seq);
  });
  private long seq;
  private int running;
  private int runningFill;

  /**
   * @param slots upstream requests in flight at once
   * @param reserved slots only DEMAND fetches may use (clamped to slots - 1)
   * @param maxFill most FILL fetches in flight at once (at least 1)
   */
  FetchScheduler(int slots, int reserved, int maxFill, Executor executor) {
    if (slots < 1) {
      throw new IllegalArgumentException("slots must be >= 1");
    }
    this.slots = slots;
    this.reserved = Math.max(0, Math.min(reserved, slots - 1));
    this.maxFill = Math.max(1, maxFill);
    this.executor = executor;
  }

  /** Default policy for a cache of {@code slots}: a quarter (at least one) reserved, fill at most 2. */
  static FetchScheduler forSlots(int slots, Executor executor) {
    return new FetchScheduler(slots, Math.max(1, slots / 4), Math.min(2, Math.max(1, slots / 2)), executor);
  }

  /** A ticket for {@code task}, not yet queued (bind it to its owner, then {@link #submit}). */
  synchronized Ticket ticket(FetchPriority p, Runnable task, Runnable onReject) {
    return new Ticket(p, seq++, task, onReject);
  }

  /**
   * Queues the ticket; its task runs on the executor once a slot is granted and must end with
   * {@link #finish}. If the executor rejects it, {@code onReject} runs instead (and the slot is freed).
   * A ticket finished before it is submitted never runs.
   */
  void submit(Ticket t) {
    synchronized (this) {
      if (t.state != 0 || queue.contains(t)) {
        return;
      }
      queue.add(t);
    }
    dispatch();
  }

  /** Shorthand for {@link #ticket} then {@link #submit}. */
  Ticket submit(FetchPriority p, Runnable task, Runnable onReject) {
    Ticket t = ticket(p, task, onReject);
    submit(t);
    return t;
  }

  /** Raises a still-queued ticket to DEMAND (a blocked reader waits on it). */
  void boost(Ticket t) {
    synchronized (this) {
      if (t.state != 0 || t.priority == FetchPriority.DEMAND) {
        return;
      }
      queue.remove(t);
      t.priority = FetchPriority.DEMAND;
      queue.add(t);
    }
    dispatch();
  }

  /** Ends a ticket: dequeues it if still queued, frees its slot if running. Idempotent. */
  void finish(Ticket t) {
    synchronized (this) {
      if (t.state == 2) {
        return;
      }
      if (t.state == 0) {
        queue.remove(t);
      } else {
        running--;
        if (t.countedFill) {
          runningFill--;
        }
      }
      t.state = 2;
    }
    dispatch();
  }

  /** True while the ticket waits for a slot. */
  synchronized boolean isQueued(Ticket t) {
    return t.state == 0;
  }

  synchronized int running() {
    return running;
  }

  synchronized int queued() {
    return queue.size();
  }

  /** Whether a new fetch of priority {@code p} would start at once. */
  synchronized boolean wouldStart(FetchPriority p) {
    return queue.isEmpty() && allowed(p);
  }

  private boolean allowed(FetchPriority p) {
    return switch (p) {
      case DEMAND -> running < slots;
      case READ_AHEAD -> running < slots - reserved;
      case FILL -> running < slots - reserved && runningFill < maxFill;
    };
  }

  private void dispatch() {
    while (true) {
      Ticket next = null;
      synchronized (this) {
        for (Ticket t : queue) {
          if (allowed(t.priority)) {
            next = t;
            break;
          }
          if (t.priority == FetchPriority.DEMAND) {
            break; // no slot at all: nothing lower may pass a waiting DEMAND fetch
          }
        }
        if (next == null) {
          return;
        }
        queue.remove(next);
        next.state = 1;
        running++;
        if (next.priority == FetchPriority.FILL) {
          next.countedFill = true;
          runningFill++;
        }
      }
      try {
        executor.execute(next.task);
      } catch (RejectedExecutionException e) {
        finish(next);
        next.onReject.run();
      }
    }
  }
}
