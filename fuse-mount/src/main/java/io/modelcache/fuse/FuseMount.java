package io.modelcache.fuse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.Statvfs;

/**
 * Mounts a {@link ReadOnlyTree} (with the jnr-fuse transport unless a {@link FuseTransport} is
 * chosen) and cleans up mounts of either transport, including stale ones left by a crashed process.
 * Meant to run as root: unmounting uses umount2(2) directly because libfuse2's fusermount is not
 * installed; fusermount3 and umount(8) are fallbacks.
 */
public final class FuseMount {
  private static final Logger LOG = LoggerFactory.getLogger(FuseMount.class);
  static final Duration MOUNT_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(10);
  /** libfuse2 caps each read at 128 KiB; asking for more only wastes buffer space. */
  static final int MAX_READ = 128 * 1024;
  /** Files never change, so the kernel may cache attributes, entries and misses for long. */
  static final int CACHE_TIMEOUT_SECONDS = 3600;

  /**
   * Request threads per mount. Cold reads block a thread until their chunk arrives; the kernel keeps
   * at most 12 background (read-ahead) requests in flight per mount plus one per faulting reader.
   */
  static final int WORKERS = 16;

  private FuseMount() {}

  /**
   * Does the one-time native setup of the first mount ahead of time: binds libc and libfuse,
   * generates jnr-fuse's callback stubs (about half a second of class generation on a cold JVM) and
   * runs the getattr and statfs callbacks once on native memory, without mounting anything. A daemon
   * calls it on a background thread at start so its first mount does not pay for it.
   *
   * @throws Throwable whatever jnr throws when libfuse or libc cannot be bound (a mount would then
   *     fail too, with its own message)
   */
  public static void prepare() {
    isStaleMount(Path.of("/"));
    ReadOnlyFuseFs fs = new ReadOnlyFuseFs(EmptyTree.INSTANCE, FuseOptions.defaults());
    Pointer mem = Memory.allocateDirect(jnr.ffi.Runtime.getSystemRuntime(), 4096); // > struct stat, statvfs
    fs.getattr("/", FileStat.of(mem));
    fs.statfs("/", Statvfs.of(mem));
    FuseLoop.bind();
  }

  /** An empty root directory: what {@link #prepare} runs the callbacks on. */
  private enum EmptyTree implements ReadOnlyTree {
    INSTANCE;

    @Override
    public NodeAttributes stat(String path) {
      return path.equals("/") ? NodeAttributes.directory(0755, 0) : null;
    }

    @Override
    public List<String> list(String path) {
      return path.equals("/") ? List.of() : null;
    }

    @Override
    public FileReader open(String path) throws IOException {
      throw new NoSuchFileException(path);
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return Map.of();
    }

    @Override
    public long totalBytes() {
      return 0;
    }
  }

  /**
   * Mounts {@code tree} read-only on {@code mountpoint} with the jnr-fuse transport (see
   * {@link JnrTransport#mount}); {@link FuseTransport#named} picks a transport by name.
   */
  public static Mounted mount(Path mountpoint, ReadOnlyTree tree, FuseOptions options)
      throws IOException {
    return JnrTransport.INSTANCE.mount(mountpoint, tree, options);
  }

  /** Refuses a mountpoint where a stale FUSE mount is (both transports). */
  static void refuseStale(Path abs) throws IOException {
    if (isStaleMount(abs)) {
      throw new IOException("cannot mount on " + abs
          + ": a stale FUSE mount is there (transport endpoint is not connected); lazyUnmount it first");
    }
  }

  /**
   * Checks a mountpoint for a mount of root's: an existing, empty directory where nothing is
   * mounted; returns its real path. The lines are the same for both transports.
   */
  static Path checkRootMountpoint(Path abs) throws IOException {
    if (!Files.isDirectory(abs)) {
      throw new IOException("cannot mount on " + abs + ": not a directory");
    }
    Path mp = abs.toRealPath();
    if (isMountPoint(mp)) {
      throw new IOException("cannot mount on " + mp + ": something is already mounted there");
    }
    try (Stream<Path> entries = Files.list(mp)) {
      if (entries.findAny().isPresent()) {
        throw new IOException("cannot mount on " + mp + ": the directory is not empty");
      }
    }
    return mp;
  }

  static String[] args(Path mp, FuseOptions options) {
    List<String> a = new ArrayList<>();
    a.add(options.fsName()); // argv[0]
    a.add("-f"); // stay in the foreground: the loop runs on our thread
    if (options.debug()) {
      a.add("-d");
    }
    a.add("-o");
    a.add(mountOptions(options));
    a.add(mp.toString());
    return a.toArray(String[]::new);
  }

  /** The -o string. No direct_io: it breaks mmap(MAP_SHARED). No -s: libfuse runs multithreaded. */
  static String mountOptions(FuseOptions options) {
    StringBuilder o = new StringBuilder("ro,default_permissions,kernel_cache");
    if (options.allowOther()) {
      o.append(",allow_other");
    }
    o.append(",fsname=").append(options.fsName());
    o.append(",subtype=").append(options.subtype());
    o.append(",max_read=").append(MAX_READ);
    o.append(",attr_timeout=").append(CACHE_TIMEOUT_SECONDS);
    o.append(",entry_timeout=").append(CACHE_TIMEOUT_SECONDS);
    o.append(",negative_timeout=").append(CACHE_TIMEOUT_SECONDS);
    return o.toString();
  }

  /** Sets the mount's kernel read-ahead; logs, does not fail, when it cannot. */
  static void setReadAhead(Path mp, long dev, int kb) {
    Path f = Path.of("/sys/class/bdi/" + major(dev) + ":" + minor(dev) + "/read_ahead_kb");
    try {
      Files.writeString(f, Integer.toString(kb));
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not set read-ahead of {} to {} KiB via {}: {}", mp, kb, f, e.toString());
    }
  }

  /** The current read-ahead of the mount at {@code mp} in KiB, or -1 when unknown. */
  public static int readAheadKb(Path mp) {
    try {
      long dev = device(mp);
      return Integer.parseInt(Files.readString(
          Path.of("/sys/class/bdi/" + major(dev) + ":" + minor(dev) + "/read_ahead_kb")).trim());
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  static long device(Path p) throws IOException {
    return ((Number) Files.getAttribute(p, "unix:dev")).longValue();
  }

  /** Major number of a Linux dev_t (glibc's gnu_dev_major encoding). */
  static long major(long dev) {
    return ((dev >>> 8) & 0xfffL) | ((dev >>> 32) & ~0xfffL);
  }

  /** Minor number of a Linux dev_t (glibc's gnu_dev_minor encoding). */
  static long minor(long dev) {
    return (dev & 0xffL) | ((dev >>> 12) & ~0xffL);
  }

  /**
   * Unmounts {@code mountpoint}: umount2(0); if busy, a lazy detach; if libc refuses, fusermount3
   * and umount(8). Not mounted is not an error. Returns true when the mount was busy and only
   * detached: the transport keeps serving open files until the last one is closed.
   */
  static boolean unmount(Path mountpoint) throws IOException {
    return unmount(mountpoint, 0);
  }

  /** As {@link #unmount(Path)}, with extra umount2 flags (UMOUNT_NOFOLLOW for a user's mount). */
  static boolean unmount(Path mountpoint, int flags) throws IOException {
    String mp = mountpoint.toAbsolutePath().normalize().toString();
    if (UserMount.notRoot()) {
      return isMountPoint(mountpoint) && UserMount.unmount(mountpoint.toAbsolutePath().normalize());
    }
    int errno;
    try {
      errno = NativeLibc.umount2(mp, flags);
    } catch (Throwable t) {
      LOG.warn("umount2 unavailable ({}); falling back to commands", t.toString());
      errno = -1;
    }
    if (errno == 0) {
      return false;
    }
    if (errno == ErrorCodes.EBUSY()) {
      LOG.warn("{} is busy (files still open or mapped); detaching it lazily", mp);
      int lazy = NativeLibc.umount2(mp, NativeLibc.MNT_DETACH | flags);
      if (lazy != 0) {
        lazyUnmount(mountpoint);
      }
      return true;
    }
    if (errno == ErrorCodes.EINVAL() && !isMountPoint(mountpoint)) {
      return false; // already gone
    }
    commandUnmount(mountpoint, errno);
    return false;
  }

  /**
   * Detaches the mount at {@code mountpoint} now (umount2 MNT_DETACH, like umount -l); the kernel
   * cleans up once nothing uses it. Works on stale mounts. A no-op when nothing is mounted there.
   */
  public static void lazyUnmount(Path mountpoint) throws IOException {
    String mp = mountpoint.toAbsolutePath().normalize().toString();
    int errno;
    try {
      errno = NativeLibc.umount2(mp, NativeLibc.MNT_DETACH);
    } catch (Throwable t) {
      errno = -1;
    }
    if (errno == 0 || (errno == ErrorCodes.EINVAL() && !isMountPoint(mountpoint))) {
      return;
    }
    commandUnmount(mountpoint, errno);
  }

  private static void commandUnmount(Path mountpoint, int errno) throws IOException {
    String mp = mountpoint.toAbsolutePath().normalize().toString();
    List<String> tried = new ArrayList<>();
    tried.add("umount2: errno " + errno);
    for (List<String> cmd : List.of(
        List.of("fusermount3", "-u", "-z", mp), List.of("umount", "-l", mp))) {
      String r = runCommand(cmd);
      if (!isMountPoint(mountpoint)) {
        return;
      }
      tried.add(String.join(" ", cmd) + ": " + r);
    }
    throw new IOException("could not unmount " + mp + " (" + String.join("; ", tried) + ")");
  }

  /** Runs {@code cmd} (bounded in time); "exit N (output)", or why it could not run. */
  static String runCommand(List<String> cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      p.getOutputStream().close();
      if (!p.waitFor(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        return "timed out";
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      return "exit " + p.exitValue() + (out.isEmpty() ? "" : " (" + out + ")");
    } catch (IOException e) {
      return e.toString();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  /**
   * Whether {@code path} is a FUSE mount whose server is gone: statfs fails with ENOTCONN
   * ("Transport endpoint is not connected") or, after an abort, ECONNABORTED. statfs is used because
   * the kernel caches the root's attributes (stat/access may still succeed) but never statfs.
   */
  public static boolean isStaleMount(Path path) {
    int errno;
    try {
      errno = NativeLibc.statfsErrno(path.toAbsolutePath().normalize().toString());
    } catch (Throwable t) {
      return false;
    }
    return errno == ErrorCodes.ENOTCONN() || errno == ErrorCodes.ECONNABORTED();
  }

  /** Whether {@code path} (absolute, normalized, not resolved) is a mount point in this namespace. */
  public static boolean isMountPoint(Path path) {
    String want = path.toAbsolutePath().normalize().toString();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ", 6);
        if (f.length > 4 && unescape(f[4]).equals(want)) {
          return true;
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot read /proc/self/mountinfo: {}", e.toString());
    }
    return false;
  }

  /**
   * The device of the FUSE mount on top at {@code mountpoint} from /proc/self/mountinfo, or -1:
   * unlike stat, it never asks the mount's server (which may be gone or not serving yet).
   */
  public static long mountedDevice(Path mountpoint) {
    return OwnedMount.mountedDevice(mountpoint.toAbsolutePath().normalize());
  }

  /**
   * The source ("fsname") of the topmost mount at {@code path} in /proc/self/mountinfo, or null when
   * nothing is mounted there. Unlike a stat, this works on a user's mount that root may not enter.
   */
  public static String mountSource(Path path) {
    String want = path.toAbsolutePath().normalize().toString();
    String source = null;
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ", 6);
        int sep = line.indexOf(" - ");
        if (f.length > 4 && sep > 0 && unescape(f[4]).equals(want)) {
          String[] tail = line.substring(sep + 3).split(" ");
          source = tail.length > 1 ? unescape(tail[1]) : "";
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot read /proc/self/mountinfo: {}", e.toString());
    }
    return source;
  }

  /**
   * The filesystem type of the topmost mount at {@code path} in /proc/self/mountinfo ("tmpfs",
   * "fuse.modelcache", ...), or null when nothing is mounted there; like {@link #mountSource}, it
   * never touches the mount itself.
   */
  public static String mountedType(Path path) {
    String want = path.toAbsolutePath().normalize().toString();
    String type = null;
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ", 6);
        int sep = line.indexOf(" - ");
        if (f.length > 4 && sep > 0 && unescape(f[4]).equals(want)) {
          type = unescape(line.substring(sep + 3).split(" ")[0]);
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot read /proc/self/mountinfo: {}", e.toString());
    }
    return type;
  }

  /** Decodes mountinfo's octal escapes (\040 for a space, ...). */
  static String unescape(String s) {
    if (s.indexOf('\\') < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        try {
          b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
          i += 3;
          continue;
        } catch (NumberFormatException e) {
          // not an escape; keep the backslash
        }
      }
      b.append(c);
    }
    return b.toString();
  }

  /** Aborts the FUSE connection of device {@code dev} through fusectl, when it is mounted. */
  static void abortConnection(long dev) {
    Path abort = Path.of("/sys/fs/fuse/connections/" + minor(dev) + "/abort");
    try {
      if (Files.exists(abort)) {
        Files.writeString(abort, "1");
      }
    } catch (IOException e) {
      LOG.warn("could not abort FUSE connection {}: {}", abort, e.toString());
    }
  }

  static void sleep(long ms) throws IOException {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for a FUSE mount", e);
    }
  }
}
