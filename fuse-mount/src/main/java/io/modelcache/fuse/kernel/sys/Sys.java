package io.modelcache.fuse.kernel.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The libc calls of the kernel transport, bound once through the FFM API. Every method returns
 * the call's result when it is >= 0 and minus the errno otherwise (Linux numbering).
 */
public final class Sys {
  public static final int O_RDONLY = 0;
  public static final int O_RDWR = 2;
  public static final int O_NONBLOCK = 04000;
  public static final int O_CLOEXEC = 02000000;
  public static final long MS_RDONLY = 1;
  public static final long MS_NOSUID = 2;
  public static final long MS_NODEV = 4;
  public static final int MNT_DETACH = 2;
  public static final int EPOLL_CLOEXEC = O_CLOEXEC;
  public static final int EPOLL_CTL_ADD = 1;
  public static final int EPOLL_CTL_DEL = 2;
  public static final int EPOLL_CTL_MOD = 3;
  public static final int EPOLLIN = 0x001;
  public static final int EPOLLERR = 0x008;
  public static final int EPOLLHUP = 0x010;
  public static final int EPOLLONESHOT = 1 << 30;
  public static final int F_SETPIPE_SZ = 1031;
  public static final int F_GETPIPE_SZ = 1032;
  public static final int SPLICE_F_MOVE = 1;
  public static final int SPLICE_F_NONBLOCK = 2;

  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int EINTR = 4;
  public static final int EAGAIN = 11;
  public static final int EBUSY = 16;
  public static final int ENODEV = 19;
  public static final int EINVAL = 22;

  /**
   * {@code struct epoll_event}: packed on x86-64 (12 bytes, data at 4), naturally aligned on
   * arm64 (16 bytes, data at 8).
   */
  public static final long EPOLL_EVENT_SIZE;
  private static final long EPOLL_DATA_OFFSET;

  private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO =
      CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
  private static final ThreadLocal<MemorySegment> STATE =
      ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

  private static final MethodHandle OPEN;
  private static final MethodHandle CLOSE;
  private static final MethodHandle MOUNT;
  private static final MethodHandle UMOUNT2;
  /** The kernel's page size, the size of one pipe buffer (4 KiB on x86-64, up to 64 KiB on arm64). */
  public static final int PAGE_SIZE;
  private static final MethodHandle READ;
  private static final MethodHandle PREAD;
  private static final MethodHandle WRITE;
  private static final MethodHandle WRITEV;
  private static final MethodHandle IOCTL;
  private static final MethodHandle EPOLL_CREATE1;
  private static final MethodHandle EPOLL_CTL;
  private static final MethodHandle EPOLL_WAIT;
  private static final MethodHandle GETEUID;
  private static final MethodHandle PIPE2;
  private static final MethodHandle SPLICE;
  private static final MethodHandle FCNTL;
  /** A loff_t per thread for splice's file offset (in and out: the kernel advances it). */
  private static final ThreadLocal<MemorySegment> SPLICE_OFFSET =
      ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(JAVA_LONG));

  static {
    boolean x86 = !System.getProperty("os.arch").equals("aarch64");
    EPOLL_EVENT_SIZE = x86 ? 12 : 16;
    EPOLL_DATA_OFFSET = x86 ? 4 : 8;
    Linker linker = Linker.nativeLinker();
    Linker.Option errno = Linker.Option.captureCallState("errno");
    var libc = linker.defaultLookup();
    OPEN = linker.downcallHandle(libc.find("open").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), errno, Linker.Option.firstVariadicArg(2));
    CLOSE = linker.downcallHandle(libc.find("close").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT), errno);
    MOUNT = linker.downcallHandle(libc.find("mount").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), errno);
    UMOUNT2 = linker.downcallHandle(libc.find("umount2").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), errno);
    READ = linker.downcallHandle(libc.find("read").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), errno);
    PREAD = linker.downcallHandle(libc.find("pread").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), errno);
    WRITE = linker.downcallHandle(libc.find("write").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), errno);
    WRITEV = linker.downcallHandle(libc.find("writev").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), errno);
    IOCTL = linker.downcallHandle(libc.find("ioctl").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), errno, Linker.Option.firstVariadicArg(2));
    EPOLL_CREATE1 = linker.downcallHandle(libc.find("epoll_create1").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT), errno);
    EPOLL_CTL = linker.downcallHandle(libc.find("epoll_ctl").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), errno);
    EPOLL_WAIT = linker.downcallHandle(libc.find("epoll_wait").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), errno);
    GETEUID = linker.downcallHandle(libc.find("geteuid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    try {
      PAGE_SIZE = (int) linker.downcallHandle(libc.find("getpagesize").orElseThrow(), FunctionDescriptor.of(JAVA_INT))
          .invokeExact();
    } catch (Throwable t) {
      throw new ExceptionInInitializerError(t);
    }
    PIPE2 = linker.downcallHandle(libc.find("pipe2").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), errno);
    SPLICE = linker.downcallHandle(libc.find("splice").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), errno);
    FCNTL = linker.downcallHandle(libc.find("fcntl").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), errno, Linker.Option.firstVariadicArg(2));
  }

  /** geteuid(2). */
  public static int geteuid() {
    try {
      return (int) GETEUID.invokeExact();
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private Sys() {}

  /** Binds every call now (class initialisation); throws what the linker throws when it cannot. */
  public static void bind() {}

  private static long result(long rc, MemorySegment state) {
    return rc >= 0 ? rc : -(int) ERRNO.get(state, 0L);
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new IllegalStateException(t);
  }

  /** open(2); a descriptor or -errno. */
  public static int open(String path, int flags) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      return (int) result((int) OPEN.invokeExact(st, a.allocateFrom(path), flags, 0), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** close(2); 0 or -errno. */
  public static int close(int fd) {
    MemorySegment st = STATE.get();
    try {
      return (int) result((int) CLOSE.invokeExact(st, fd), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** mount(2); 0 or -errno. */
  public static int mount(String source, String target, String type, long flags, String data) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      return (int) result((int) MOUNT.invokeExact(st, a.allocateFrom(source), a.allocateFrom(target),
          a.allocateFrom(type), flags, a.allocateFrom(data)), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** umount2(2); 0 or -errno. */
  public static int umount2(String target, int flags) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      return (int) result((int) UMOUNT2.invokeExact(st, a.allocateFrom(target), flags), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** read(2) of up to {@code len} bytes into native {@code buf}; bytes read or -errno. */
  public static long read(int fd, MemorySegment buf, long len) {
    MemorySegment st = STATE.get();
    try {
      return result((long) READ.invokeExact(st, fd, buf, Math.min(len, buf.byteSize())), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** pread(2) of up to {@code len} bytes at {@code offset} into native {@code buf}; bytes read or -errno. */
  public static long pread(int fd, MemorySegment buf, long len, long offset) {
    MemorySegment st = STATE.get();
    try {
      return result((long) PREAD.invokeExact(st, fd, buf, Math.min(len, buf.byteSize()), offset), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** write(2) of the first {@code len} bytes of native {@code buf}; bytes written or -errno. */
  public static long write(int fd, MemorySegment buf, long len) {
    MemorySegment st = STATE.get();
    try {
      return result((long) WRITE.invokeExact(st, fd, buf, Math.min(len, buf.byteSize())), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** writev(2) of the given native segments in order (one write, as the FUSE device wants). */
  public static long writev(int fd, MemorySegment... parts) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment iov = a.allocate(16L * parts.length, 8); // struct iovec { void *base; size_t len; }
      for (int i = 0; i < parts.length; i++) {
        iov.set(ValueLayout.ADDRESS, 16L * i, parts[i]);
        iov.set(ValueLayout.JAVA_LONG, 16L * i + 8, parts[i].byteSize());
      }
      return result((long) WRITEV.invokeExact(st, fd, iov, parts.length), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** writev(2) of {@code count} iovecs the caller built in native {@code iov}; bytes written or -errno. */
  public static long writev(int fd, MemorySegment iov, int count) {
    MemorySegment st = STATE.get();
    try {
      return result((long) WRITEV.invokeExact(st, fd, iov, count), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** ioctl(2) with a pointer argument; the ioctl's result or -errno. */
  public static int ioctl(int fd, long request, MemorySegment arg) {
    MemorySegment st = STATE.get();
    try {
      return (int) result((int) IOCTL.invokeExact(st, fd, request, arg), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * Makes {@code cloneFd} (a fresh open of /dev/fuse) a second descriptor of the connection of
   * {@code sessionFd} (FUSE_DEV_IOC_CLONE); 0 or -errno. Requests read from a clone are answered on it.
   */
  public static int cloneFuseDevice(int cloneFd, int sessionFd) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment arg = a.allocate(JAVA_INT);
      arg.set(JAVA_INT, 0, sessionFd);
      return ioctl(cloneFd, FuseAbi.FUSE_DEV_IOC_CLONE, arg);
    }
  }

  /**
   * Registers the open regular file {@code fd} as a backing file on the connection of
   * {@code sessionFd} (FUSE_DEV_IOC_BACKING_OPEN); its backing id (&gt; 0) or -errno.
   */
  public static int backingOpen(int sessionFd, int fd) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment map = a.allocate(FuseAbi.BACKING_MAP);
      map.fill((byte) 0);
      map.set(JAVA_INT, FuseAbi.BACKING_MAP.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("fd")), fd);
      return ioctl(sessionFd, FuseAbi.FUSE_DEV_IOC_BACKING_OPEN, map);
    }
  }

  /** Drops backing id {@code id} from the connection of {@code sessionFd} (FUSE_DEV_IOC_BACKING_CLOSE); 0 or -errno. */
  public static int backingClose(int sessionFd, int id) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment arg = a.allocate(JAVA_INT);
      arg.set(JAVA_INT, 0, id);
      return ioctl(sessionFd, FuseAbi.FUSE_DEV_IOC_BACKING_CLOSE, arg);
    }
  }

  /** epoll_create1(2); a descriptor or -errno. */
  public static int epollCreate() {
    MemorySegment st = STATE.get();
    try {
      return (int) result((int) EPOLL_CREATE1.invokeExact(st, EPOLL_CLOEXEC), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** epoll_ctl(2) with an event of {@code events} carrying {@code data}; 0 or -errno. */
  public static int epollCtl(int epfd, int op, int fd, int events, long data) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment ev = a.allocate(EPOLL_EVENT_SIZE, 8);
      ev.set(ValueLayout.JAVA_INT_UNALIGNED, 0, events);
      ev.set(ValueLayout.JAVA_LONG_UNALIGNED, EPOLL_DATA_OFFSET, data);
      return (int) result((int) EPOLL_CTL.invokeExact(st, epfd, op, fd, ev), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** epoll_wait(2) into {@code events} (room for {@code max} events); the number ready or -errno. */
  public static int epollWait(int epfd, MemorySegment events, int max, int timeoutMillis) {
    MemorySegment st = STATE.get();
    try {
      return (int) result((int) EPOLL_WAIT.invokeExact(st, epfd, events, max, timeoutMillis), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The data of event {@code i} in an epoll_wait result. */
  public static long epollData(MemorySegment events, int i) {
    return events.get(ValueLayout.JAVA_LONG_UNALIGNED, i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET);
  }

  /** The events mask of event {@code i} in an epoll_wait result. */
  public static int epollEvents(MemorySegment events, int i) {
    return events.get(ValueLayout.JAVA_INT_UNALIGNED, i * EPOLL_EVENT_SIZE);
  }

  /**
   * pipe2(2) with {@code flags} (O_CLOEXEC, O_NONBLOCK); {@code fds[0]} becomes the read end,
   * {@code fds[1]} the write end. 0 or -errno.
   */
  public static int pipe2(int[] fds, int flags) {
    MemorySegment st = STATE.get();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment two = a.allocate(JAVA_INT, 2);
      int rc = (int) result((int) PIPE2.invokeExact(st, two, flags), st);
      if (rc == 0) {
        fds[0] = two.getAtIndex(JAVA_INT, 0);
        fds[1] = two.getAtIndex(JAVA_INT, 1);
      }
      return rc;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** fcntl(2) with an int argument (F_SETPIPE_SZ, F_GETPIPE_SZ, ...); the call's result or -errno. */
  public static int fcntl(int fd, int cmd, int arg) {
    MemorySegment st = STATE.get();
    try {
      return (int) result((int) FCNTL.invokeExact(st, fd, cmd, arg), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * splice(2) of up to {@code len} bytes from {@code in} to {@code out}. {@code inOffset} is the
   * file offset to read {@code in} at (its own position is left alone), or -1 when {@code in} is a
   * pipe; {@code out} is written at its current position (a pipe or the FUSE device). Bytes moved
   * or -errno.
   */
  public static long splice(int in, long inOffset, int out, long len, int flags) {
    MemorySegment st = STATE.get();
    try {
      MemorySegment off = MemorySegment.NULL;
      if (inOffset >= 0) {
        off = SPLICE_OFFSET.get();
        off.set(JAVA_LONG, 0, inOffset);
      }
      return result((long) SPLICE.invokeExact(st, in, off, out, MemorySegment.NULL, len, flags), st);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }
}
