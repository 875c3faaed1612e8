package io.modelcache.fuse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mount that belongs to a user other than root, made by the (root) daemon the way fusermount3
 * makes one for a user: the mountpoint is opened without following a link and must be a directory
 * the user owns; mount(2) then gets {@code user_id}/{@code group_id} of that user, {@code nosuid},
 * {@code nodev}, and {@code allow_other} only when asked. Without allow_other the kernel lets only
 * that user's processes in (not even root's), so readiness is judged from /proc/self/mountinfo,
 * never by looking inside. Either transport then serves the descriptor: libfuse2
 * ({@link FuseLoop#runMounted}) or the kernel transport ({@link KernelTransport}).
 */
final class OwnedMount {
  private static final Logger LOG = LoggerFactory.getLogger(OwnedMount.class);

  private OwnedMount() {}

  /** A user's mount made with mount(2), not yet served: where it is and its /dev/fuse descriptor. */
  record Made(Path mountpoint, int devFd) {}

  /**
   * Checks {@code abs} and mounts it for the owner in {@code options}, with the kernel options of
   * the transport that will serve it ({@code maxRead}: libfuse2's 128 KiB cap, or 0 for none).
   */
  static Made make(Path abs, FuseOptions options, int maxRead) throws IOException {
    int pathFd = NativeLibc.open(abs.toString(), NativeLibc.O_PATH | NativeLibc.O_NOFOLLOW | NativeLibc.O_CLOEXEC);
    if (pathFd < 0) {
      throw new IOException("cannot mount on " + abs + ": cannot open it (errno " + -pathFd + ")");
    }
    Path mp;
    int devFd;
    try {
      Path self = Path.of("/proc/self/fd/" + pathFd);
      Map<String, Object> a = Files.readAttributes(self, "unix:uid,isDirectory");
      if (!(Boolean) a.get("isDirectory")) {
        throw new IOException("cannot mount on " + abs + ": not a directory (or a symbolic link)");
      }
      if ((Integer) a.get("uid") != options.ownerUid()) {
        throw new IOException("cannot mount on " + abs + ": not owned by uid " + Integer.toUnsignedString(options.ownerUid()));
      }
      mp = Files.readSymbolicLink(self); // where it really is, for mountinfo and unmounting
      if (FuseMount.isMountPoint(mp)) {
        throw new IOException("cannot mount on " + mp + ": something is already mounted there");
      }
      devFd = NativeLibc.open("/dev/fuse", NativeLibc.O_RDWR | NativeLibc.O_CLOEXEC);
      if (devFd < 0) {
        throw new IOException("cannot open /dev/fuse: errno " + -devFd);
      }
      int errno = NativeLibc.mount(options.fsName(), self.toString(), "fuse." + options.subtype(),
          NativeLibc.MS_RDONLY | NativeLibc.MS_NOSUID | NativeLibc.MS_NODEV, kernelOptions(devFd, options, maxRead));
      if (errno != 0) {
        NativeLibc.close(devFd);
        throw KernelTransport.refused(mp, errno);
      }
    } finally {
      NativeLibc.close(pathFd);
    }
    return new Made(mp, devFd);
  }

  static Mounted mount(Path abs, ReadOnlyTree tree, FuseOptions options) throws IOException {
    Made made = make(abs, options, FuseMount.MAX_READ);
    Path mp = made.mountpoint();
    int devFd = made.devFd();
    long dev = mountedDevice(mp);
    ReadOnlyFuseFs fs = new ReadOnlyFuseFs(tree, options);
    CompletableFuture<Integer> loop = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        loop.complete(fs.runMounted(devFd, libOptions(options), FuseMount.WORKERS, "modelcache-fuse " + mp));
      } catch (Throwable e) {
        loop.completeExceptionally(e);
      }
    }, "modelcache-fuse " + mp);
    t.setDaemon(true);
    t.start();
    Mounted mounted = new Mounted(mp, fs, loop, dev, true);
    if (dev >= 0) {
      FuseMount.setReadAhead(mp, dev, options.readAheadKb());
    }
    LOG.info("mounted {} on {} for uid {} (device {}:{}{})", options.fsName(), mp,
        Integer.toUnsignedString(options.ownerUid()), FuseMount.major(dev), FuseMount.minor(dev),
        options.allowOther() ? ", others may read" : ", only its owner may read");
    return mounted;
  }

  /** The mount(2) data for libfuse2 (max_read 128 KiB). */
  static String kernelOptions(int devFd, FuseOptions o) {
    return kernelOptions(devFd, o, FuseMount.MAX_READ);
  }

  /** The mount(2) data: the kernel's own FUSE options; {@code maxRead} 0 leaves reads to INIT's max_pages. */
  static String kernelOptions(int devFd, FuseOptions o, int maxRead) {
    StringBuilder b = new StringBuilder("fd=").append(devFd)
        .append(",rootmode=40000")
        .append(",user_id=").append(Integer.toUnsignedString(o.ownerUid()))
        .append(",group_id=").append(Integer.toUnsignedString(o.ownerGid()))
        .append(",default_permissions");
    if (o.allowOther()) {
      b.append(",allow_other");
    }
    if (maxRead > 0) {
      b.append(",max_read=").append(maxRead);
    }
    return b.toString();
  }

  /** What libfuse itself parses (fuse_new): caching and timeouts, as for root's mounts. */
  static String[] libOptions(FuseOptions o) {
    List<String> a = new ArrayList<>(List.of(o.fsName(), "-o", "kernel_cache"
        + ",attr_timeout=" + FuseMount.CACHE_TIMEOUT_SECONDS
        + ",entry_timeout=" + FuseMount.CACHE_TIMEOUT_SECONDS
        + ",negative_timeout=" + FuseMount.CACHE_TIMEOUT_SECONDS));
    if (o.debug()) {
      a.add("-d");
    }
    return a.toArray(String[]::new);
  }

  /** The device of the mount at {@code mp} from /proc/self/mountinfo (major:minor), or -1. */
  static long mountedDevice(Path mp) {
    String want = mp.toString();
    long found = -1;
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ", 6);
        if (f.length > 4 && FuseMount.unescape(f[4]).equals(want)) {
          String[] mm = f[2].split(":");
          long major = Long.parseLong(mm[0]);
          long minor = Long.parseLong(mm[1]);
          long dev = ((major & 0xfff) << 8) | ((major & ~0xfffL) << 32) | (minor & 0xff) | ((minor & ~0xffL) << 12);
          if (line.contains(" - fuse.")) {
            found = dev; // the last match is the top of the stack
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot read /proc/self/mountinfo: {}", e.toString());
    }
    return found;
  }
}
