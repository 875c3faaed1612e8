package io.modelcache.daemon;

import io.modelcache.config.Settings;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fuse.FusePrerequisites;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.FuseUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's FUSE decisions, made once at start: which transport serves its mounts, whether they
 * outlive it, the request timeout it asks the kernel for, and the one line a mount fails with when
 * a FUSE piece is missing. Pure apart from its log lines; thread-safe.
 */
final class FuseSetup {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

  private FuseSetup() {}

  /**
   * The transport {@code fuse.transport} names, or jnr (one log line saying why) when the kernel
   * transport cannot start in this process. restart.keepMounts needs the kernel transport: only its
   * connections can be handed to the next daemon.
   */
  static FuseTransport chooseTransport(Settings settings) {
    FuseTransport t = FuseTransport.named(settings.fuseTransport());
    String why = t.unavailableReason();
    if (why != null && t.name().equals("kernel")) {
      LOG.warn("FUSE transport kernel cannot start ({}); mounts use jnr (libfuse2){}", why,
          settings.restartKeepMounts() ? " and are unmounted at stop (only kernel-transport mounts outlive the daemon)" : "");
      return FuseTransport.jnr();
    }
    if (settings.restartKeepMounts() && !t.name().equals("kernel")) {
      LOG.info("fuse.transport is {}: mounts are unmounted at stop (only kernel-transport mounts outlive the daemon)", t.name());
    }
    LOG.info("FUSE transport: {}", t.name());
    return t;
  }

  /** Whether mounts outlive this daemon: restart.keepMounts (default on), for the kernel transport only. */
  static boolean keepsMounts(Settings s, FuseTransport transport) {
    return s.restartKeepMounts() && transport.name().equals("kernel");
  }

  /**
   * The FUSE request timeout asked for in INIT (where the kernel offers it): longer than anything a
   * request may wait for during a normal restart or a slow fetch (restart.grace or fetch.timeout,
   * whichever is longer, plus a minute), and never under 30 minutes (a first read under
   * verify.unindexed: strict waits for its whole blob, however long that download takes while it
   * progresses). So the kernel only aborts a connection whose requests nobody answers: a hung
   * daemon, or a kept connection that no daemon took back and no holder aborted.
   */
  static int requestTimeoutSeconds(Settings s) {
    long secs = Math.max(REQUEST_TIMEOUT_FLOOR.toSeconds(),
        Math.max(s.restartGrace().toSeconds(), s.fetchTimeout().toSeconds()) + 60);
    return (int) Math.min(secs, io.modelcache.fuse.kernel.InitConfig.MAX_REQUEST_TIMEOUT);
  }

  static final Duration REQUEST_TIMEOUT_FLOOR = Duration.ofMinutes(30);

  /** A FUSE piece missing at mount time: one line naming the mountpoint. */
  static ModelCacheException fuseUnavailable(Path mp, FuseUnavailableException e) {
    return new ModelCacheException(Kind.FUSE_UNAVAILABLE, "cannot mount " + mp + ": " + e.getMessage(), e);
  }

  /** A native piece that broke between the check and the mount: still one line, never an Error. */
  static ModelCacheException linkageFailed(Path mp, FuseTransport transport, LinkageError e) {
    return new ModelCacheException(Kind.FUSE_UNAVAILABLE, "cannot mount " + mp + ": "
        + (transport.needsLibfuse2() ? "FUSE library " + FusePrerequisites.LIBFUSE2 + " cannot be loaded (install libfuse2)"
            : "the kernel transport cannot bind libc (" + e + ")"), e);
  }
}
