package io.modelcache.fuse;

import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one wrapper every FUSE request of either transport goes through: it times and counts the
 * call, tells the {@link OperationListener}, logs slow calls and maps every Throwable to a negative
 * errno ({@link Errno}), so nothing is ever thrown into native code or out of a serving thread.
 *
 * <p>Threading: thread-safe; called concurrently from every serving thread of a mount.
 */
public final class CallWrapper {
  private static final Logger LOG = LoggerFactory.getLogger(CallWrapper.class);

  /** A request body; may throw anything, {@link #call} maps it. */
  @FunctionalInterface
  public interface Op {
    /** The result: bytes or 0 on success, a negative errno on error. */
    int run() throws Exception;
  }

  private final OperationListener listener;
  private final long slowNanos;
  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

  public CallWrapper(OperationListener listener, Duration slowCallThreshold) {
    this.listener = listener;
    this.slowNanos = slowCallThreshold.toNanos();
  }

  public CallWrapper(FuseOptions options) {
    this(options.listener(), options.slowCallThreshold());
  }

  /** Runs {@code body}: time, count, notify, log slow calls, map every Throwable to an errno. */
  public int call(String op, String path, Op body) {
    long start = System.nanoTime();
    int result;
    try {
      result = body.run();
    } catch (Throwable t) {
      result = Errno.of(t);
      try {
        if (result == -Errno.EIO) {
          LOG.warn("FUSE {} {} failed: {}", op, path, t.toString(), t);
        } else {
          LOG.debug("FUSE {} {} -> {}: {}", op, path, result, t.toString());
        }
      } catch (Throwable ignored) {
        // Logging must not break the request either.
      }
    }
    long nanos = System.nanoTime() - start;
    try {
      counts.computeIfAbsent(op, k -> new LongAdder()).increment();
      if (listener != null) {
        listener.completed(op, nanos, result);
      }
      if (nanos > slowNanos) {
        LOG.warn("slow FUSE {} {}: {} ms, result {}", op, path, nanos / 1_000_000, result);
      }
    } catch (Throwable t) {
      try {
        LOG.warn("FUSE bookkeeping for {} {} failed", op, path, t);
      } catch (Throwable ignored) {
        // Nothing more we can do without risking the serving thread.
      }
    }
    return result;
  }

  /** Calls per operation name so far. */
  public Map<String, Long> counts() {
    Map<String, Long> out = new TreeMap<>();
    counts.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }
}
