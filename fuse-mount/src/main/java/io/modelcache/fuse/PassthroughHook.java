package io.modelcache.fuse;

import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.OpenHook;
import io.modelcache.fuse.kernel.OpenReply;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the kernel transport answers OPEN for one mount: with FOPEN_PASSTHROUGH on the reader's
 * {@link BackingFile} when there is one (the kernel then reads and maps the backing file itself,
 * no READ reaches this process, and every mount of the same content shares one page cache), else
 * by the daemon, with FOPEN_KEEP_CACHE only when the reader's content is final.
 *
 * <p><b>Why one mode per file at a time, and one backing id per file.</b> The kernel keeps an
 * inode in either cached or passthrough I/O mode: an open answered in the other mode while files of
 * the first are still open fails the caller's open(2) with EIO, and two passthrough opens of one
 * inode with different backing files fail the same way. So while a file has daemon-path opens,
 * new opens of it are served by the daemon too; while it has passthrough opens, new opens share
 * their backing id; the backing id is registered at the first passthrough open and closed
 * (FUSE_DEV_IOC_BACKING_CLOSE, and the {@link BackingFile} released) at the last RELEASE. The
 * kernel drops an open's mode when the file is closed, before it sends RELEASE, so this view is
 * never behind the kernel's in the direction that matters: a file this hook thinks idle is idle.
 *
 * <p><b>Fallback.</b> Without passthrough in INIT (before 6.9, or not asked), or when registering a
 * backing file fails (a cache directory on a file system that cannot back FUSE files: overlay or
 * FUSE stacked too deep, ELOOP; no CAP_SYS_ADMIN, EPERM), files are served by the daemon; the
 * reason is logged once per process and the mount stops trying. A process without CAP_SYS_ADMIN in
 * its effective set (a daemon that is not root) does not try at all: it says so at the first INIT.
 *
 * <p>Threading: called from every serving thread; state is guarded by this object's monitor (opens
 * are rare next to reads; the two ioctls are quick).
 */
public final class PassthroughHook implements OpenHook {
  private static final Logger LOG = LoggerFactory.getLogger(PassthroughHook.class);
  private static final AtomicBoolean LOGGED = new AtomicBoolean();

  /** Counters shared by every mount of a transport (for metrics). */
  public static final class Stats {
    private final LongAdder passthroughOpens = new LongAdder();
    private final LongAdder daemonOpens = new LongAdder();
    private final LongAdder fallbacks = new LongAdder();

    /** Opens answered with FOPEN_PASSTHROUGH. */
    public long passthroughOpens() {
      return passthroughOpens.sum();
    }

    /** Opens of files served by the daemon. */
    public long daemonOpens() {
      return daemonOpens.sum();
    }

    /** Backing files that could not be registered (the file was served by the daemon instead). */
    public long fallbacks() {
      return fallbacks.sum();
    }
  }

  /** One file's opens: in one mode at a time. */
  private static final class FileState {
    int daemonOpens;
    int passthroughOpens;
    int backingId;
    BackingFile backing;
  }

  private record Handle(String path, boolean passthrough) {}

  private final int sessionFd;
  private final Stats stats;
  private volatile boolean enabled;
  private final Map<String, FileState> files = new HashMap<>();
  private final Map<Long, Handle> handles = new HashMap<>();
  /**
   * Opens the previous server recorded, by the unique of their OPEN: one whose reply never reached
   * the kernel comes again (FUSE_NOTIFY_RESEND) and is answered with its record ({@link #resent}).
   */
  private final Map<Long, OpenLog.Entry> recorded = new HashMap<>();
  /** Where opens are recorded for the next server of a kept connection; null when it is not kept. */
  private final OpenLog log;
  /** Whether opens are recorded: the connection negotiated passthrough (modes matter) and is kept. */
  private boolean logging;
  /** The connection is gone: backing ids went with it, and its descriptor may be another's now. */
  private boolean gone;

  /**
   * @param sessionFd the connection's /dev/fuse descriptor (backing ids belong to the connection)
   * @param passthrough whether to answer with passthrough at all (config); false: daemon path only
   */
  public PassthroughHook(int sessionFd, boolean passthrough, Stats stats) {
    this(sessionFd, passthrough, stats, null);
  }

  /** As above, recording every open and release in {@code log} (a connection kept across restarts). */
  public PassthroughHook(int sessionFd, boolean passthrough, Stats stats, OpenLog log) {
    this.sessionFd = sessionFd;
    this.enabled = passthrough;
    this.stats = stats;
    this.log = log;
  }

  /**
   * Takes over what the previous server of this connection left open ({@link OpenLog#resumed}):
   * each file's opens by mode, its backing id, and for files held in passthrough a new pin of the
   * backing file ({@code pin}: the tree's {@link ReadOnlyTree.FileReader#backing()}), so eviction
   * leaves the file the kernel reads alone and the last RELEASE closes the id and unpins. Call
   * before serving.
   *
   * @param pathOf the path of a node id (file handles carry their node id in their upper 32 bits)
   */
  public synchronized void resume(java.util.List<OpenLog.Entry> open, java.util.function.LongFunction<String> pathOf,
      java.util.function.Function<String, Optional<BackingFile>> pin) {
    int pinned = 0;
    for (OpenLog.Entry e : open) {
      String path = pathOf.apply(e.fh() >>> 32);
      if (path == null) {
        LOG.warn("open handle {} of the previous daemon names no file of this tree; ignored", Long.toHexString(e.fh()));
        continue;
      }
      FileState f = files.computeIfAbsent(path, k -> new FileState());
      if (e.passthrough()) {
        f.passthroughOpens++;
        if (f.backingId == 0) {
          f.backingId = e.backingId();
          Optional<BackingFile> b = pin.apply(path);
          if (b.isPresent()) {
            f.backing = b.get();
            pinned++;
          } else {
            LOG.warn("{} is open in passthrough since before the restart but its cache file cannot be pinned now"
                + " (not complete and verified); eviction may reach it while it is open", path);
          }
        }
      } else {
        f.daemonOpens++;
      }
      handles.put(e.fh(), new Handle(path, e.passthrough()));
      if (e.unique() != 0) {
        recorded.put(e.unique(), e);
      }
    }
    if (!open.isEmpty()) {
      LOG.info("took over {} open file handle(s), {} file(s) in passthrough pinned again", open.size(), pinned);
    }
  }

  @Override
  public void initialized(Negotiated negotiated) {
    synchronized (this) {
      logging = log != null && negotiated.passthrough();
    }
    if (enabled && !negotiated.passthrough()) {
      enabled = false;
      logOnce(negotiated.passthroughOffered() ? "FUSE passthrough was offered but not taken"
          : "the kernel does not offer FUSE passthrough (protocol 7." + negotiated.kernelMinor()
              + "; it needs Linux 6.9 and CONFIG_FUSE_PASSTHROUGH)");
    } else if (enabled && !hasCapSysAdmin()) {
      // The kernel registers a backing file (FUSE_DEV_IOC_BACKING_OPEN) only for CAP_SYS_ADMIN: a
      // daemon that is not root would be refused at its first complete file; say so once, up front.
      enabled = false;
      logOnce("FUSE passthrough is unavailable: FUSE_DEV_IOC_BACKING_OPEN needs CAP_SYS_ADMIN, which this daemon (uid "
          + Integer.toUnsignedString(Sys.geteuid()) + ") does not have");
    }
  }

  /** Whether CAP_SYS_ADMIN is in this process's effective set (/proc/self/status CapEff); true when unknown. */
  static boolean hasCapSysAdmin() {
    try {
      for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
        if (line.startsWith("CapEff:")) {
          return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << CAP_SYS_ADMIN)) != 0;
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      LOG.debug("cannot read the capabilities of this process: {}", e.toString());
    }
    return true; // unknown: try, and let the ioctl say
  }

  private static final int CAP_SYS_ADMIN = 21;

  /**
   * A resent OPEN that the previous server recorded but never answered (killed between its record
   * and its reply): answered with the recorded handle, mode and backing id, which {@link #resume}
   * already counted and pinned, so the record ends with the kernel's RELEASE of it instead of
   * holding its file's mode and pin until the mount ends. An OPEN that was answered is never sent
   * again (the kernel resends only what it has no reply for), and request ids are not reused.
   */
  @Override
  public synchronized Optional<OpenReply> resent(long unique, String path, ReadOnlyTree.FileReader reader) {
    OpenLog.Entry e = recorded.remove(unique);
    Handle h = e == null ? null : handles.get(e.fh());
    if (h == null || !h.path().equals(path)) {
      return Optional.empty();
    }
    LOG.info("a resent open of {} gets the handle the previous daemon recorded for it but did not answer", path);
    if (e.passthrough()) {
      stats.passthroughOpens.increment();
      return Optional.of(new OpenReply(e.fh(), FuseAbi.FOPEN_PASSTHROUGH, e.backingId()));
    }
    stats.daemonOpens.increment();
    return Optional.of(new OpenReply(e.fh(), reader.contentFinal() ? FuseAbi.FOPEN_KEEP_CACHE : 0, 0));
  }

  @Override
  public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
    synchronized (this) {
      FileState f = files.computeIfAbsent(path, k -> new FileState());
      if (f.passthroughOpens > 0) {
        return passthrough(path, f, daemonPath.fh(), unique); // the inode is in passthrough mode: share its backing
      }
      if (enabled && f.daemonOpens == 0) {
        Optional<BackingFile> b = reader.backing();
        if (b.isPresent()) {
          int id = register(b.get());
          if (id > 0) {
            f.backingId = id;
            f.backing = b.get();
            return passthrough(path, f, daemonPath.fh(), unique);
          }
          b.get().close();
        }
      }
      f.daemonOpens++;
      handles.put(daemonPath.fh(), new Handle(path, false));
      if (logging) {
        log.opened(new OpenLog.Entry(daemonPath.fh(), false, 0, unique));
      }
    }
    stats.daemonOpens.increment();
    int flags = reader.contentFinal() ? daemonPath.openFlags() | FuseAbi.FOPEN_KEEP_CACHE
        : daemonPath.openFlags() & ~FuseAbi.FOPEN_KEEP_CACHE;
    return new OpenReply(daemonPath.fh(), flags, 0);
  }

  private OpenReply passthrough(String path, FileState f, long fh, long unique) {
    f.passthroughOpens++;
    handles.put(fh, new Handle(path, true));
    if (logging) {
      log.opened(new OpenLog.Entry(fh, true, f.backingId, unique)); // before the kernel gets the reply
    }
    stats.passthroughOpens.increment();
    return new OpenReply(fh, FuseAbi.FOPEN_PASSTHROUGH, f.backingId);
  }

  /** Opens the backing file read-only and registers it; its id, or 0 (then logged once, and off). */
  private int register(BackingFile b) {
    int fd = Sys.open(b.path().toString(), Sys.O_RDONLY | Sys.O_CLOEXEC);
    if (fd < 0) {
      stats.fallbacks.increment();
      LOG.warn("cannot open backing file {} for passthrough: errno {}; the file is served by the daemon", b.path(), -fd);
      return 0;
    }
    try {
      int id = Sys.backingOpen(sessionFd, fd);
      if (id > 0) {
        return id;
      }
      stats.fallbacks.increment();
      enabled = false;
      logOnce("FUSE_DEV_IOC_BACKING_OPEN refused " + b.path() + ": " + backingError(-id));
      return 0;
    } finally {
      Sys.close(fd); // the kernel holds its own reference from here on
    }
  }

  static String backingError(int errno) {
    return switch (errno) {
      case Sys.EPERM -> "operation not permitted (errno 1: passthrough not negotiated, or no CAP_SYS_ADMIN)";
      case 40 -> "too many levels of stacking (errno 40: the cache directory is on overlayfs or FUSE)";
      case Sys.EINVAL -> "invalid argument (errno 22: not a regular file, or a file system that cannot back it)";
      case 95 -> "operation not supported (errno 95)";
      default -> "errno " + errno;
    };
  }

  private static void logOnce(String why) {
    if (LOGGED.compareAndSet(false, true)) {
      LOG.warn("{}; files are served by the daemon (no passthrough)", why);
    }
  }

  @Override
  public void released(OpenReply reply) {
    BackingFile toClose = null;
    int idToClose = 0;
    synchronized (this) {
      Handle h = handles.remove(reply.fh());
      if (h == null) {
        return; // a handle of an earlier server this one was not told of
      }
      if (!recorded.isEmpty()) {
        recorded.values().removeIf(e -> e.fh() == reply.fh()); // it was answered after all
      }
      if (logging) {
        log.released(reply.fh()); // first: a record of a closed id would be worse than a leaked one
      }
      FileState f = files.get(h.path());
      if (f == null) {
        return;
      }
      if (h.passthrough()) {
        if (--f.passthroughOpens == 0) {
          toClose = f.backing;
          idToClose = f.backingId;
          f.backing = null;
          f.backingId = 0;
        }
      } else {
        f.daemonOpens--;
      }
      if (f.passthroughOpens == 0 && f.daemonOpens == 0) {
        files.remove(h.path());
      }
      if (idToClose > 0 && !gone) {
        int rc = Sys.backingClose(sessionFd, idToClose);
        if (rc < 0) {
          LOG.debug("FUSE_DEV_IOC_BACKING_CLOSE {} failed: errno {}", idToClose, -rc);
        }
      }
    }
    if (toClose != null) {
      toClose.close();
    }
  }

  /**
   * The connection is gone (unmounted or aborted): every pin is released and the log deleted; no
   * ioctl is made (the ids went with the connection, and its descriptor number may be reused).
   */
  @Override
  public void ended() {
    java.util.List<BackingFile> toClose = new java.util.ArrayList<>();
    synchronized (this) {
      gone = true;
      for (FileState f : files.values()) {
        if (f.backing != null) {
          toClose.add(f.backing);
          f.backing = null;
        }
      }
      files.clear();
      handles.clear();
      if (log != null) {
        log.delete();
      }
    }
    for (BackingFile b : toClose) {
      b.close();
    }
  }

  /**
   * This server stops serving the connection but the connection stays (a handover): the log keeps
   * what is open for the next server; pins end with this process.
   */
  @Override
  public synchronized void left() {
    if (log != null) {
      log.close();
    }
  }

  /** Files of this mount open in passthrough now (for tests and status). */
  public synchronized int passthroughFiles() {
    int n = 0;
    for (FileState f : files.values()) {
      n += f.passthroughOpens > 0 ? 1 : 0;
    }
    return n;
  }

  /** Opens of this mount not released yet, by mode: {passthrough, daemon}. */
  public synchronized int[] openHandles() {
    int p = 0;
    int d = 0;
    for (Handle h : handles.values()) {
      if (h.passthrough()) {
        p++;
      } else {
        d++;
      }
    }
    return new int[] {p, d};
  }
}
