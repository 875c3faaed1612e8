package io.modelcache.fuse;

import io.modelcache.fuse.kernel.InitConfig;
import io.modelcache.fuse.kernel.KernelFs;
import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.NodeTable;
import io.modelcache.fuse.kernel.OpenHook;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default transport: the FUSE kernel protocol spoken on /dev/fuse from Java (FFM, no libfuse).
 * A mount is mount(2) with {@code fd=N} (root's with user_id 0, a user's through {@link OwnedMount}
 * with hers), a {@link KernelSession} on that descriptor served by the process's one
 * {@link KernelServer}, and a {@link KernelFs} answering the requests over the tree. INIT asks for
 * 1 MiB requests (max_pages 256), async reads, parallel dirops, readdirplus, and passthrough only
 * when configured; what was negotiated is logged once per process.
 *
 * <p>A process that is not root mounts through fusermount3 ({@link UserMount}: the descriptor
 * comes back over a unix socket) and unmounts with {@code fusermount3 -u}; only without a setuid
 * fusermount3 does it report {@link #unavailableReason} (and the daemon falls back to jnr).
 *
 * <p>Threading: thread-safe; mounts may be made concurrently.
 */
public final class KernelTransport implements FuseTransport {
  private static final Logger LOG = LoggerFactory.getLogger(KernelTransport.class);
  private static final AtomicBoolean LOGGED_INIT = new AtomicBoolean();
  /** Follows {@link #configureDefault} at each mount (so whoever took it before still gets it). */
  private static final KernelTransport DEFAULTS = new KernelTransport(null, null);
  private static volatile boolean defaultPassthrough;
  private static volatile boolean defaultSplice = true;
  private static volatile PassthroughHook.Stats defaultStats = new PassthroughHook.Stats();
  private static volatile int defaultRequestTimeout;
  private static volatile OpenLogs defaultOpenLogs;

  /** Where the open handles of a kept connection are recorded: the log file of a mountpoint, or null. */
  @FunctionalInterface
  public interface OpenLogs {
    Path fileFor(Path mountpoint);
  }

  /** Makes the {@link OpenHook} of a mount, given its tree and its connection's descriptor. */
  @FunctionalInterface
  public interface OpenHooks {
    OpenHook forMount(ReadOnlyTree tree, int deviceFd);
  }

  private final InitConfig init;
  private final OpenHooks hooks;

  public KernelTransport(InitConfig init, OpenHooks hooks) {
    this.init = init;
    this.hooks = hooks;
  }

  static KernelTransport defaults() {
    return DEFAULTS;
  }

  /**
   * A transport whose mounts answer opens with FUSE passthrough where the tree offers a backing
   * file ({@link PassthroughHook}), when {@code passthrough} and the kernel agrees in INIT.
   */
  public static KernelTransport withPassthrough(boolean passthrough, PassthroughHook.Stats stats) {
    return new KernelTransport(InitConfig.defaults().withPassthrough(passthrough),
        (tree, fd) -> new PassthroughHook(fd, passthrough, stats));
  }

  /**
   * Makes mounts of {@link FuseTransport#kernel()} behave as {@link #withPassthrough} from now on;
   * a daemon calls it once at start with its {@code fuse.passthrough} setting (mounts made before
   * keep what they had). Until then, every file is served by the daemon. {@code spliceReplies}
   * ({@code fuse.spliceReplies}): READs of daemon-served files that have a backing file are answered
   * by splicing from it.
   */
  public static void configureDefault(boolean passthrough, boolean spliceReplies, PassthroughHook.Stats stats) {
    defaultStats = stats;
    defaultPassthrough = passthrough;
    defaultSplice = spliceReplies;
  }

  /**
   * For a daemon whose connections outlive it: the FUSE request timeout asked for in INIT
   * ({@code seconds}, 0: none; see {@link InitConfig#requestTimeoutSeconds}) and where each mount
   * records its open handles ({@code logs}, null: nowhere), so that the next daemon taking a
   * connection over knows which files the kernel holds open and in which mode ({@link OpenLog}).
   */
  public static void configureDefaultHandover(int seconds, OpenLogs logs) {
    defaultRequestTimeout = seconds;
    defaultOpenLogs = logs;
  }

  private InitConfig init() {
    return init != null ? init : InitConfig.defaults().withPassthrough(defaultPassthrough)
        .withRequestTimeoutSeconds(defaultRequestTimeout).withSpliceReplies(defaultSplice);
  }

  private OpenHook hook(ReadOnlyTree tree, int fd, InitConfig ic, OpenLog log) {
    return hooks != null ? hooks.forMount(tree, fd) : new PassthroughHook(fd, ic.passthrough(), defaultStats, log);
  }

  /** The open log of a mount of the default transport, or null (a test's transport, or not kept). */
  private OpenLog openLog(Path mp, boolean resume) {
    OpenLogs logs = defaultOpenLogs;
    Path file = hooks == null && logs != null ? logs.fileFor(mp) : null;
    if (file == null) {
      return null;
    }
    return resume ? OpenLog.resume(file) : OpenLog.fresh(file);
  }

  @Override
  public String name() {
    return "kernel";
  }

  @Override
  public void prepare() {
    Sys.bind();
    FuseMount.isStaleMount(Path.of("/"));
    try {
      KernelServer.shared();
    } catch (IOException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  @Override
  public boolean needsLibfuse2() {
    return false;
  }

  @Override
  public String unavailableReason() {
    try {
      Sys.bind();
      int euid = Sys.geteuid();
      if (euid != 0) {
        String why = UserMount.unavailableReason();
        return why == null ? null : "the kernel transport mounts with mount(2) as root or with fusermount3 otherwise: "
            + why + " (running as uid " + Integer.toUnsignedString(euid) + ")";
      }
      return null;
    } catch (Throwable t) {
      return "the kernel transport cannot bind libc through the FFM API: " + t;
    }
  }

  @Override
  public Mounted mount(Path mountpoint, ReadOnlyTree tree, FuseOptions options) throws IOException {
    FusePrerequisites.require(FusePrerequisites.DEVICE, false);
    String why = unavailableReason();
    if (why != null) {
      throw new FuseUnavailableException(why);
    }
    Path abs = mountpoint.toAbsolutePath().normalize();
    FuseMount.refuseStale(abs);
    NodeTable nodes = NodeTable.of(tree);
    KernelServer server = KernelServer.shared();
    boolean user = Sys.geteuid() != 0;
    boolean owned = !user && options.ownerUid() != 0;
    Path mp;
    int devFd;
    if (user) {
      mp = FuseMount.checkRootMountpoint(abs);
      devFd = UserMount.mount(mp, options);
    } else if (owned) {
      OwnedMount.Made made = OwnedMount.make(abs, options, 0);
      mp = made.mountpoint();
      devFd = made.devFd();
    } else {
      mp = FuseMount.checkRootMountpoint(abs);
      devFd = mountAsRoot(mp, options);
    }
    InitConfig ic = init();
    OpenLog log = openLog(mp, false);
    KernelFs fs = new KernelFs(tree, nodes, new CallWrapper(options), ic, hook(tree, devFd, ic, log));
    KernelSession session;
    try {
      session = KernelSession.start(devFd, fs, server, mp.toString());
    } catch (IOException | RuntimeException e) {
      if (log != null) {
        log.delete();
      }
      Sys.close(devFd); // the connection ends; the mount turns stale and is detached now
      FuseMount.lazyUnmount(mp);
      throw e;
    }
    Negotiated negotiated = awaitInit(session, mp);
    if (LOGGED_INIT.compareAndSet(false, true)) {
      LOG.info("{}{}", negotiated.describe(), ic.spliceReplies() ? ", splice replies" : ", replies copied (splice off)");
    }
    long dev = OwnedMount.mountedDevice(mp);
    if (dev >= 0 && !user) { // /sys/class/bdi is root's
      FuseMount.setReadAhead(mp, dev, options.readAheadKb());
    }
    if (user) {
      LOG.info("mounted {} on {} with fusermount3 as uid {} (device {}:{}, kernel transport)", options.fsName(), mp,
          Integer.toUnsignedString(Sys.geteuid()), FuseMount.major(dev), FuseMount.minor(dev));
    } else if (owned) {
      LOG.info("mounted {} on {} for uid {} (device {}:{}, kernel transport{})", options.fsName(), mp,
          Integer.toUnsignedString(options.ownerUid()), FuseMount.major(dev), FuseMount.minor(dev),
          options.allowOther() ? ", others may read" : ", only its owner may read");
    } else {
      LOG.info("mounted {} on {} (device {}:{}, kernel transport)", options.fsName(), mp,
          FuseMount.major(dev), FuseMount.minor(dev));
    }
    Mounted m = new Mounted(mp, session, session.ended(), dev, owned);
    return user ? m.via("fusermount3 as uid " + Integer.toUnsignedString(Sys.geteuid())) : m;
  }

  /**
   * Serves a connection another process mounted and initialised, whose descriptors this process
   * was handed ({@code kept}: the session descriptor, and the clone that process served on, or -1):
   * no mount(2), no INIT. The tree must be the one that process served (node ids and handles are
   * derived from it). FUSE_NOTIFY_RESEND makes the kernel queue again every request the old server
   * read and never answered; the old clone is closed after that (its processing queue is empty then)
   * and a new clone serves. The returned mount owns the session descriptor.
   */
  public Mounted adopt(Path mountpoint, LiveConnection kept, ReadOnlyTree tree, FuseOptions options) throws IOException {
    Path mp = mountpoint.toAbsolutePath().normalize();
    NodeTable nodes = NodeTable.of(tree);
    KernelServer server = KernelServer.shared();
    InitConfig ic = init();
    OpenLog log = openLog(mp, true);
    OpenHook hook = hook(tree, kept.sessionFd(), ic, log);
    KernelFs fs = new KernelFs(tree, nodes, new CallWrapper(options), ic, hook);
    if (log != null) {
      fs.handleEpoch(log.epoch());
      if (hook instanceof PassthroughHook p) {
        p.resume(log.resumed(), nodes::path, path -> {
          try (ReadOnlyTree.FileReader r = tree.open(path)) {
            return r.backingInUse(); // the pin outlives the reader
          } catch (IOException | RuntimeException e) {
            LOG.warn("cannot open {} to pin its cache file: {}", path, e.toString());
            return java.util.Optional.empty();
          }
        });
      }
    } else {
      fs.handleEpoch(1 + (int) (System.nanoTime() % 255)); // not the first server: stay clear of its handles
    }
    KernelSession session;
    try {
      session = KernelSession.adopt(kept.sessionFd(), kept.negotiated(), fs, server, mp.toString());
    } catch (IOException | RuntimeException e) {
      fs.closeAll(); // the pins just taken back; the caller lets the connection go
      throw e;
    }
    try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
      java.lang.foreign.MemorySegment notify = a.allocate(16, 8);
      notify.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, 16); // fuse_out_header: len
      notify.set(java.lang.foreign.ValueLayout.JAVA_INT, 4, FuseAbi.NOTIFY_RESEND); // error: the notify code
      notify.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8, 0L); // unique 0: a notification
      long w = Sys.write(kept.sessionFd(), notify, 16);
      if (w < 0) {
        // Before 6.9 there is no resend: requests the old server had read stay unanswered.
        LOG.warn("FUSE_NOTIFY_RESEND on {} failed: errno {}; requests the previous daemon had read are lost", mp, -w);
      }
    }
    if (kept.serveFd() >= 0 && kept.serveFd() != kept.sessionFd()) {
      Sys.close(kept.serveFd());
    }
    boolean owned = options.ownerUid() != 0;
    LOG.info("took over {} on {} (device {}:{}, kernel transport)", options.fsName(), mp,
        FuseMount.major(kept.device()), FuseMount.minor(kept.device()));
    Mounted m = new Mounted(mp, session, session.ended(), kept.device(), owned);
    return UserMount.notRoot() ? m.via("fusermount3 as uid " + Integer.toUnsignedString(Sys.geteuid())) : m;
  }

  /** Opens /dev/fuse and mounts it on {@code mp} as root's; returns the connection's descriptor. */
  private static int mountAsRoot(Path mp, FuseOptions options) throws IOException {
    int fd = Sys.open(FusePrerequisites.DEVICE.toString(), Sys.O_RDWR | Sys.O_CLOEXEC);
    if (fd < 0) {
      throw new FuseUnavailableException("FUSE device " + FusePrerequisites.DEVICE + " is not usable: "
          + errnoText(-fd) + " (install fuse3; in a container, pass " + FusePrerequisites.DEVICE + ")");
    }
    int rc = Sys.mount(options.fsName(), mp.toString(), "fuse." + options.subtype(),
        Sys.MS_RDONLY | Sys.MS_NOSUID | Sys.MS_NODEV, OwnedMount.kernelOptions(fd, options, 0));
    if (rc < 0) {
      Sys.close(fd);
      throw refused(mp, -rc);
    }
    return fd;
  }

  /** The one line for a mount(2) the kernel refused. */
  static IOException refused(Path mp, int errno) {
    String line = "mount(2) refused a FUSE mount on " + mp + ": " + errnoText(errno);
    return errno == Sys.EPERM || errno == Sys.ENODEV ? new FuseUnavailableException(line) : new IOException(line);
  }

  static String errnoText(int errno) {
    return switch (errno) {
      case Sys.EPERM -> "operation not permitted (errno 1; needs root or CAP_SYS_ADMIN)";
      case Sys.ENOENT -> "no such file or directory (errno 2)";
      case 13 -> "permission denied (errno 13)";
      case Sys.EBUSY -> "device or resource busy (errno 16)";
      case Sys.ENODEV -> "no such device (errno 19; is the fuse module loaded?)";
      case 20 -> "not a directory (errno 20)";
      case Sys.EINVAL -> "invalid argument (errno 22)";
      default -> "errno " + errno;
    };
  }

  private static Negotiated awaitInit(KernelSession session, Path mp) throws IOException {
    try {
      return session.ready().get(FuseMount.MOUNT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      FuseMount.lazyUnmount(mp);
      throw new IOException("FUSE mount on " + mp + " did not complete INIT within "
          + FuseMount.MOUNT_TIMEOUT.toSeconds() + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      FuseMount.lazyUnmount(mp);
      throw new IOException("interrupted while waiting for a FUSE mount", e);
    }
  }
}
