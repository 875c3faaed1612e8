package io.modelcache.fuse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The portable transport: libfuse2 through jnr-fuse ({@link ReadOnlyFuseFs}, {@link FuseLoop}),
 * 128 KiB requests, 16 serving threads per mount. Used where the kernel transport cannot start or
 * when the config says {@code fuse.transport: jnr}. Needs libfuse.so.2.
 */
final class JnrTransport implements FuseTransport {
  private static final Logger LOG = LoggerFactory.getLogger(JnrTransport.class);
  static final JnrTransport INSTANCE = new JnrTransport();

  private JnrTransport() {}

  @Override
  public String name() {
    return "jnr";
  }

  @Override
  public void prepare() {
    FuseMount.prepare();
  }

  @Override
  public boolean needsLibfuse2() {
    return true;
  }

  @Override
  public String unavailableReason() {
    return FusePrerequisites.libraryProblem(FusePrerequisites.LIBFUSE2);
  }

  /**
   * Mounts {@code tree} read-only on {@code mountpoint} (an existing, empty directory) and returns
   * once the mount is listable. With an owner other than root, the mount is that user's
   * ({@link OwnedMount}): nosuid, nodev, and readable by others only with allowOther. Mount options: ro, default_permissions, kernel_cache, allow_other
   * (when set), fsname, subtype, max_read=128 KiB, 3600 s attr/entry/negative timeouts; libfuse2
   * runs multithreaded on a daemon thread. Read-ahead is then set through /sys/class/bdi.
   *
   * @throws FuseUnavailableException when /dev/fuse or libfuse2 is missing or unusable
   * @throws IOException when the mountpoint is unusable, libfuse fails, or the mount does not
   *     become live within {@link FuseMount#MOUNT_TIMEOUT}
   */
  @Override
  public Mounted mount(Path mountpoint, ReadOnlyTree tree, FuseOptions options) throws IOException {
    FusePrerequisites.require(FusePrerequisites.DEVICE, true);
    Path abs = mountpoint.toAbsolutePath().normalize();
    FuseMount.refuseStale(abs);
    if (options.ownerUid() != 0) {
      return OwnedMount.mount(abs, tree, options); // a user's: mount(2) with her user_id, nosuid, nodev
    }
    Path mp = FuseMount.checkRootMountpoint(abs);
    long devBefore = FuseMount.device(mp);
    ReadOnlyFuseFs fs = new ReadOnlyFuseFs(tree, options);
    String[] args = FuseMount.args(mp, options);
    LOG.debug("fuse_main {}", String.join(" ", args));

    CompletableFuture<Integer> loop = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        loop.complete(fs.runFuseMain(args, FuseMount.WORKERS, "modelcache-fuse " + mp));
      } catch (Throwable e) {
        loop.completeExceptionally(e);
      }
    }, "modelcache-fuse " + mp);
    t.setDaemon(true);
    t.start();

    Mounted mounted = new Mounted(mp, fs, loop, -1); // no device known yet: nothing to abort
    long deadline = System.nanoTime() + FuseMount.MOUNT_TIMEOUT.toNanos();
    IOException lastListing = null;
    while (true) {
      if (loop.isDone()) {
        if (loop.isCompletedExceptionally() && loop.exceptionNow() instanceof LinkageError) {
          // The library went away (or broke) after the check: the same one line as the check's.
          throw new FuseUnavailableException(
              "FUSE library " + FusePrerequisites.LIBFUSE2 + " cannot be loaded (install libfuse2)", loop.exceptionNow());
        }
        throw new IOException("FUSE mount on " + mp + " failed: libfuse exited with "
            + describe(loop) + " (see its message on stderr)");
      }
      if (FuseMount.isMountPoint(mp)) {
        try {
          long dev = FuseMount.device(mp);
          if (dev != devBefore) {
            try (Stream<Path> s = Files.list(mp)) {
              s.findFirst();
            }
            mounted = new Mounted(mp, fs, loop, dev);
            FuseMount.setReadAhead(mp, dev, options.readAheadKb());
            LOG.info("mounted {} on {} (device {}:{})", options.fsName(), mp, FuseMount.major(dev), FuseMount.minor(dev));
            return mounted;
          }
        } catch (IOException e) {
          lastListing = e;
        }
      }
      if (System.nanoTime() > deadline) {
        mounted.close();
        throw new IOException("FUSE mount on " + mp + " did not become live within "
            + FuseMount.MOUNT_TIMEOUT.toSeconds() + " s"
            + (lastListing == null ? "" : ": " + lastListing.getMessage()));
      }
      FuseMount.sleep(5);
    }
  }

  private static String describe(CompletableFuture<Integer> loop) {
    try {
      return "code " + loop.getNow(null);
    } catch (Exception e) {
      return e.getCause() == null ? e.toString() : e.getCause().toString();
    }
  }
}
