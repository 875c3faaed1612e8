package io.modelcache.fuse;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A live FUSE mount of either transport. {@link #close()} unmounts it: idempotent and bounded in time. */
public final class Mounted implements AutoCloseable {
  /** What serves a mount: its call counts, and the readers to close once it is gone. */
  interface Served {
    Map<String, Long> counts();

    void closeAll();
  }

  private static final Logger LOG = LoggerFactory.getLogger(Mounted.class);
  static final Duration LOOP_EXIT_WAIT = Duration.ofSeconds(5);
  static final Duration BUSY_WAIT = Duration.ofMillis(200);

  private final Path mountpoint;
  private final Served fs;
  private final CompletableFuture<Integer> loop;
  private final long device;
  /** A user's mount ({@link OwnedMount}): its path is under her control, so unmount with care. */
  private final boolean owned;
  private final AtomicBoolean closed = new AtomicBoolean();
  /** How the mount was made, when it is not the transport's usual way (fusermount3), or null. */
  private volatile String via;

  Mounted(Path mountpoint, Served fs, CompletableFuture<Integer> loop, long device) {
    this(mountpoint, fs, loop, device, false);
  }

  Mounted(Path mountpoint, Served fs, CompletableFuture<Integer> loop, long device, boolean owned) {
    this.mountpoint = mountpoint;
    this.fs = fs;
    this.loop = loop;
    this.device = device;
    this.owned = owned;
  }

  /** Marks how this mount was made (e.g. "fusermount3 as uid 1000"), for {@link #transport}. */
  Mounted via(String how) {
    this.via = how;
    return this;
  }

  /**
   * The transport serving this mount, and how it was made when not as root: "kernel",
   * "kernel (fusermount3 as uid 1000)", "jnr".
   */
  public String transport() {
    String name = fs instanceof KernelSession ? "kernel" : "jnr";
    String how = via;
    return how == null ? name : name + " (" + how + ")";
  }

  /** The absolute, real path where the tree is mounted. */
  public Path mountpoint() {
    return mountpoint;
  }

  /** How many times each FUSE callback ran so far (e.g. "read" -> 812). */
  public Map<String, Long> operationCounts() {
    return fs.counts();
  }

  /**
   * The live connection of a kernel-transport mount, for handing it to another process; empty for
   * jnr (libfuse keeps its descriptor to itself) and before INIT completed.
   */
  public java.util.Optional<LiveConnection> connection() {
    if (fs instanceof KernelSession k && !loop.isDone()) {
      io.modelcache.fuse.kernel.Negotiated n = k.ready().getNow(null);
      if (n != null) {
        return java.util.Optional.of(new LiveConnection(k.sessionFd(), k.serveFd(), device, n));
      }
    }
    return java.util.Optional.empty();
  }

  /**
   * Stops serving without unmounting, for a handover to the next daemon (kernel transport): the
   * mount stays, requests not answered yet are answered by whoever serves a kept duplicate of its
   * descriptors next. Returns false, and does nothing, for a mount that cannot be left (jnr): close it.
   */
  public boolean leave() {
    if (!(fs instanceof KernelSession k) || !closed.compareAndSet(false, true)) {
      return false;
    }
    if (!k.leave(Duration.ofSeconds(2))) {
      LOG.info("{}: a request was still being served at handover; the next daemon gets it again", mountpoint);
    }
    return true;
  }

  /** Whether close() has not been called and the mount is still served. */
  public boolean isLive() {
    return !closed.get() && !loop.isDone();
  }

  /**
   * Unmounts: umount2, then waits (bounded) for libfuse's loop to end, aborting the FUSE connection
   * (when fusectl is mounted) if it does not. When files are still open or mapped, the mount is
   * detached lazily instead: it leaves the namespace at once and is served until they are closed.
   * Never throws; failures are logged.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    boolean detachedOnly = false;
    try {
      if (owned && OwnedMount.mountedDevice(mountpoint) != device) {
        // The user moved her directory (or put a link in its path): what is there now is not this
        // mount, so do not unmount it; ending the connection ends this mount wherever it went.
        LOG.warn("{} is no longer this mount (device {}); aborting its FUSE connection instead", mountpoint, device);
        FuseMount.abortConnection(device);
      } else {
        detachedOnly = FuseMount.unmount(mountpoint, owned ? NativeLibc.UMOUNT_NOFOLLOW : 0);
      }
    } catch (Throwable t) {
      LOG.warn("unmounting {} failed: {}", mountpoint, t.toString());
    }
    if (detachedOnly) {
      // Open or mapped files keep the detached mount alive and still need their readers; libfuse's
      // loop ends and releases them when the last one is closed.
      if (!awaitLoop(BUSY_WAIT)) {
        LOG.info("{} detached; its FUSE loop ends when the last open file is closed", mountpoint);
      }
      return;
    }
    try {
      if (!awaitLoop(LOOP_EXIT_WAIT)) {
        LOG.warn("FUSE loop for {} still running after {}; aborting the connection", mountpoint,
            LOOP_EXIT_WAIT);
        if (device >= 0) {
          FuseMount.abortConnection(device);
        }
        if (!awaitLoop(Duration.ofSeconds(2))) {
          LOG.warn("FUSE loop for {} did not stop; leaving its daemon thread", mountpoint);
        }
      }
    } finally {
      fs.closeAll();
    }
  }

  private boolean awaitLoop(Duration d) {
    try {
      loop.get(d.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return loop.isDone();
    } catch (Exception e) {
      return loop.isDone();
    }
  }

  @Override
  public String toString() {
    return "Mounted[" + mountpoint + "]";
  }
}
