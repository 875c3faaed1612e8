package io.modelcache.daemon;

import io.modelcache.metrics.DaemonMetrics;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a mount ends. Released (umount, a mounts.d file removed, a stop that unmounts): its kept
 * connection is let go, its metrics and tracker are dropped, the FUSE mount is unmounted, then
 * the model tree and its source are closed. Left at stop (its connection is kept: restart.keepMounts,
 * kernel transport): it stops serving before the cache closes (what is not answered now the next
 * daemon answers) and stays mounted; only the tree and the source are closed. Called under the
 * daemon's lock.
 */
final class MountTeardown {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

  private final Handover handover;
  private final DaemonMetrics metrics;
  private final OperatorOps ops;

  MountTeardown(Handover handover, DaemonMetrics metrics, OperatorOps ops) {
    this.handover = handover;
    this.metrics = metrics;
    this.ops = ops;
  }

  /** Unmounts {@code a} and closes what served it. */
  void release(ActiveMount a) {
    handover.release(Path.of(a.record().mountpoint()));
    metrics.unbindMount(a.record().mountpoint());
    ops.untrack(a.record().mountpoint());
    try {
      a.fuse().close();
    } catch (Exception e) {
      LOG.warn("unmounting {} failed: {}", a.record().mountpoint(), e.toString());
    }
    a.model().close();
    try {
      a.source().close();
    } catch (IOException e) {
      LOG.debug("closing source failed: {}", e.toString());
    }
    LOG.info("unmounted {}", a.record().mountpoint());
  }

  /**
   * At stop, in order: leaves each mount whose connection is kept mounted for the next daemon, and
   * releases the others (all of them once {@code unmountAll} says so: {@code daemon --unmount-on-exit};
   * asked at each mount).
   */
  void stop(Collection<ActiveMount> mounts, BooleanSupplier unmountAll) {
    for (ActiveMount a : mounts) {
      Path mp = Path.of(a.record().mountpoint());
      // Stop serving before the cache closes: what is not answered now the next daemon answers.
      if (!unmountAll.getAsBoolean() && handover.survives(mp) && a.fuse().leave()) {
        LOG.info("left {} mounted for the next daemon", mp);
        a.model().close();
        try {
          a.source().close();
        } catch (IOException e) {
          LOG.debug("closing source failed: {}", e.toString());
        }
      } else {
        release(a);
      }
    }
  }
}
