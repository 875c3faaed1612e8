package io.modelcache.fuse;

/**
 * Observes every FUSE callback once it completes, so the daemon can plug in metrics without this
 * module depending on a metrics library. Called on FUSE worker threads: must be thread-safe, fast
 * and must not throw (a throw is logged and ignored).
 */
@FunctionalInterface
public interface OperationListener {
  /**
   * @param op the callback name ("read", "getattr", ...)
   * @param nanos wall time spent in the callback
   * @param result what was returned to the kernel: bytes or 0 on success, a negative errno on error
   */
  void completed(String op, long nanos, int result);
}
