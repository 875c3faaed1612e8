package io.modelcache.os;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/** Raw descriptors: close, dup, open, pipe, read and write, and setsid for a process of its own. */
public final class Fds {
  public static final int O_RDONLY = 0;
  public static final int O_WRONLY = 1;
  public static final int O_RDWR = 2;
  private static final int O_CLOEXEC = 0x80000;
  private static final int F_DUPFD_CLOEXEC = 1030;

  private static final class H {
    static final MethodHandle CLOSE = Calls.withErrno("close",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final MethodHandle FCNTL = Calls.withErrno("fcntl",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final MethodHandle OPEN = Calls.withErrno("open",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final MethodHandle PIPE2 = Calls.withErrno("pipe2",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    static final MethodHandle READ = Calls.withErrno("read",
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    static final MethodHandle WRITE = Calls.withErrno("write",
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    static final MethodHandle SETSID = Calls.withErrno("setsid", FunctionDescriptor.of(ValueLayout.JAVA_INT));
  }

  private Fds() {}

  public static void close(int fd) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      if ((int) H.CLOSE.invokeExact(st, fd) != 0 && Calls.errno(st) != ErrnoException.EINTR) {
        throw Calls.failure("close(" + fd + ")", st);
      }
    } catch (Throwable t) {
      throw Calls.unexpected("close", t);
    }
  }

  public static void closeQuietly(int fd) {
    if (fd < 0) {
      return;
    }
    try {
      close(fd);
    } catch (IOException | RuntimeException ignored) {
      // nothing to do: the descriptor is gone either way
    }
  }

  /** A close-on-exec duplicate of {@code fd} (the same open file description). */
  public static int dup(int fd) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      int d = (int) H.FCNTL.invokeExact(st, fd, F_DUPFD_CLOEXEC, 3);
      if (d < 0) {
        throw Calls.failure("dup(" + fd + ")", st);
      }
      return d;
    } catch (Throwable t) {
      throw Calls.unexpected("dup", t);
    }
  }

  /** open(2) with close-on-exec; {@code flags} one of O_RDONLY, O_WRONLY, O_RDWR. */
  public static int open(Path path, int flags) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      int fd = (int) H.OPEN.invokeExact(st, a.allocateFrom(path.toString()), flags | O_CLOEXEC, 0);
      if (fd < 0) {
        throw Calls.failure("open " + path, st);
      }
      return fd;
    } catch (Throwable t) {
      throw Calls.unexpected("open", t);
    }
  }

  /** A pipe: {read end, write end}, both close-on-exec. */
  public static int[] pipe() throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
      MemorySegment st = Calls.errnoState(a);
      if ((int) H.PIPE2.invokeExact(st, fds, O_CLOEXEC) != 0) {
        throw Calls.failure("pipe2", st);
      }
      return new int[] {fds.get(ValueLayout.JAVA_INT, 0), fds.get(ValueLayout.JAVA_INT, 4)};
    } catch (Throwable t) {
      throw Calls.unexpected("pipe", t);
    }
  }

  /** One read(2) of at most {@code max} bytes; empty at end of file. */
  public static byte[] read(int fd, int max) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(Math.max(1, max));
      MemorySegment st = Calls.errnoState(a);
      long n = (long) H.READ.invokeExact(st, fd, buf, (long) max);
      if (n < 0) {
        throw Calls.failure("read(" + fd + ")", st);
      }
      return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
    } catch (Throwable t) {
      throw Calls.unexpected("read", t);
    }
  }

  /** Writes all of {@code data} to {@code fd}. */
  public static void write(int fd, byte[] data) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(Math.max(1, data.length));
      MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
      MemorySegment st = Calls.errnoState(a);
      long off = 0;
      while (off < data.length) {
        long n = (long) H.WRITE.invokeExact(st, fd, buf.asSlice(off), (long) data.length - off);
        if (n < 0) {
          throw Calls.failure("write(" + fd + ")", st);
        }
        off += n;
      }
    } catch (Throwable t) {
      throw Calls.unexpected("write", t);
    }
  }

  /** Makes this process the leader of a new session (and process group), detached from any terminal. */
  public static void setsid() throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      if ((int) H.SETSID.invokeExact(st) < 0) {
        throw Calls.failure("setsid", st);
      }
    } catch (Throwable t) {
      throw Calls.unexpected("setsid", t);
    }
  }

  /** What {@code fd} of this process refers to, as /proc shows it ("/path", "pipe:[123]", "/dev/fuse"). */
  public static String describe(int fd) {
    try {
      return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    } catch (IOException | RuntimeException e) {
      return "fd " + fd;
    }
  }

  /** The inode of what {@code fd} refers to (through /proc/self/fd, which stat follows). */
  public static long inode(int fd) throws IOException {
    return ((Number) Files.getAttribute(Path.of("/proc/self/fd/" + fd), "unix:ino")).longValue();
  }
}
