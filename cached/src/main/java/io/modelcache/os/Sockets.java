package io.modelcache.os;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Unix domain sockets that carry file descriptors (SCM_RIGHTS), which the JDK's channels cannot:
 * SOCK_SEQPACKET for the holder (connection-oriented, one message per packet, so a message and
 * the descriptors that ride on it arrive together) and SOCK_DGRAM for sd_notify. Descriptors are
 * plain ints; every descriptor made or received here is close-on-exec. Linux, LP64 layouts
 * (x86-64 and arm64 share them). A path starting with {@code @} is in the abstract namespace.
 */
public final class Sockets {
  private static final int AF_UNIX = 1;
  private static final int SOCK_DGRAM = 2;
  private static final int SOCK_SEQPACKET = 5;
  private static final int SOCK_CLOEXEC = 0x80000;
  private static final int SOL_SOCKET = 1;
  private static final int SCM_RIGHTS = 1;
  private static final int MSG_NOSIGNAL = 0x4000;
  private static final int MSG_TRUNC = 0x20;
  private static final int MSG_CTRUNC = 0x8;
  private static final int MSG_CMSG_CLOEXEC = 0x40000000;
  private static final int SUN_PATH_MAX = 108;
  /** The longest path a unix socket may be bound at, in bytes (sun_path without its NUL). */
  public static final int MAX_PATH_BYTES = SUN_PATH_MAX - 1;
  private static final int SOCKADDR_UN_SIZE = 2 + SUN_PATH_MAX;
  /** struct msghdr: name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48; 56 bytes. */
  private static final int MSGHDR_SIZE = 56;
  /** struct cmsghdr: size_t len, int level, int type, then data (aligned to 8). */
  private static final int CMSG_HEADER = 16;
  /** The most descriptors one message may carry (the kernel's SCM_MAX_FD is 253). */
  public static final int MAX_FDS = 64;

  public static final short POLLIN = 0x1;
  public static final short POLLERR = 0x8;
  public static final short POLLHUP = 0x10;
  public static final short POLLNVAL = 0x20;

  private static final class H {
    static final MethodHandle SOCKET = Calls.withErrno("socket",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final MethodHandle BIND = Calls.withErrno("bind",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    static final MethodHandle CONNECT = Calls.withErrno("connect",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    static final MethodHandle LISTEN = Calls.withErrno("listen",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final MethodHandle ACCEPT4 = Calls.withErrno("accept4",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
            ValueLayout.JAVA_INT));
    static final MethodHandle SENDMSG = Calls.withErrno("sendmsg",
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    static final MethodHandle RECVMSG = Calls.withErrno("recvmsg",
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    static final MethodHandle POLL = Calls.withErrno("poll",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
  }

  private Sockets() {}

  /** One message received: its bytes, the descriptors that came with it (now ours), end of stream. */
  public record Received(byte[] data, int[] fds, boolean eof) {}

  /** A SOCK_SEQPACKET socket bound to {@code path} and listening. */
  public static int listenSeqpacket(String path, int backlog) throws IOException {
    int fd = socket(SOCK_SEQPACKET);
    try {
      bind(fd, path);
      try (Arena a = Arena.ofConfined()) {
        MemorySegment st = Calls.errnoState(a);
        if ((int) H.LISTEN.invokeExact(st, fd, backlog) != 0) {
          throw Calls.failure("listen on " + path, st);
        }
      } catch (Throwable t) {
        throw Calls.unexpected("listen", t);
      }
      return fd;
    } catch (IOException | RuntimeException e) {
      Fds.closeQuietly(fd);
      throw e;
    }
  }

  /** A SOCK_SEQPACKET socket connected to {@code path}; ENOENT or ECONNREFUSED when nobody listens there. */
  public static int connectSeqpacket(String path) throws IOException {
    int fd = socket(SOCK_SEQPACKET);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment addr = address(a, path);
      MemorySegment st = Calls.errnoState(a);
      if ((int) H.CONNECT.invokeExact(st, fd, addr, (int) addr.byteSize()) != 0) {
        throw Calls.failure("connect to " + path, st);
      }
      return fd;
    } catch (Throwable t) {
      Fds.closeQuietly(fd);
      throw Calls.unexpected("connect", t);
    }
  }

  /** An unbound SOCK_DGRAM socket (to send to sd_notify's socket). */
  public static int datagram() throws IOException {
    return socket(SOCK_DGRAM);
  }

  /** A SOCK_DGRAM socket bound to {@code path} (what a service manager listens on). */
  public static int bindDatagram(String path) throws IOException {
    int fd = socket(SOCK_DGRAM);
    try {
      bind(fd, path);
      return fd;
    } catch (IOException | RuntimeException e) {
      Fds.closeQuietly(fd);
      throw e;
    }
  }

  /** Accepts one connection on a listening socket. */
  public static int accept(int listenFd) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      int fd = (int) H.ACCEPT4.invokeExact(st, listenFd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
      if (fd < 0) {
        throw Calls.failure("accept", st);
      }
      return fd;
    } catch (Throwable t) {
      throw Calls.unexpected("accept", t);
    }
  }

  /** Sends one message with {@code fds} attached on a connected socket. */
  public static void send(int fd, byte[] data, int... fds) throws IOException {
    sendTo(fd, null, data, fds);
  }

  /** Sends one message with {@code fds} attached, to {@code path} (null: the connected peer). */
  public static void sendTo(int fd, String path, byte[] data, int... fds) throws IOException {
    if (fds.length > MAX_FDS) {
      throw new IllegalArgumentException("at most " + MAX_FDS + " descriptors per message");
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment msg = a.allocate(MSGHDR_SIZE, 8);
      if (path != null) {
        MemorySegment addr = address(a, path);
        msg.set(ValueLayout.ADDRESS, 0, addr);
        msg.set(ValueLayout.JAVA_INT, 8, (int) addr.byteSize());
      }
      MemorySegment buf = a.allocate(Math.max(1, data.length));
      MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
      MemorySegment iov = a.allocate(16, 8);
      iov.set(ValueLayout.ADDRESS, 0, buf);
      iov.set(ValueLayout.JAVA_LONG, 8, data.length);
      msg.set(ValueLayout.ADDRESS, 16, iov);
      msg.set(ValueLayout.JAVA_LONG, 24, 1);
      if (fds.length > 0) {
        int len = CMSG_HEADER + 4 * fds.length;
        MemorySegment control = a.allocate(align(len), 8);
        control.set(ValueLayout.JAVA_LONG, 0, len);
        control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
        control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
        for (int i = 0; i < fds.length; i++) {
          control.set(ValueLayout.JAVA_INT, CMSG_HEADER + 4L * i, fds[i]);
        }
        msg.set(ValueLayout.ADDRESS, 32, control);
        msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
      }
      MemorySegment st = Calls.errnoState(a);
      long n = (long) H.SENDMSG.invokeExact(st, fd, msg, MSG_NOSIGNAL);
      if (n < 0) {
        throw Calls.failure(path == null ? "sendmsg" : "sendmsg to " + path, st);
      }
      if (n != data.length) {
        throw new IOException("sendmsg sent " + n + " of " + data.length + " bytes");
      }
    } catch (Throwable t) {
      throw Calls.unexpected("sendmsg", t);
    }
  }

  /**
   * Receives one message of at most {@code maxBytes} with at most {@link #MAX_FDS} descriptors. A
   * message that did not fit, or descriptors that did not, is an error (the descriptors that did
   * arrive are closed): a caller must never act on half a message.
   */
  public static Received receive(int fd, int maxBytes) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment msg = a.allocate(MSGHDR_SIZE, 8);
      MemorySegment buf = a.allocate(maxBytes);
      MemorySegment iov = a.allocate(16, 8);
      iov.set(ValueLayout.ADDRESS, 0, buf);
      iov.set(ValueLayout.JAVA_LONG, 8, maxBytes);
      msg.set(ValueLayout.ADDRESS, 16, iov);
      msg.set(ValueLayout.JAVA_LONG, 24, 1);
      MemorySegment control = a.allocate(align(CMSG_HEADER + 4 * MAX_FDS), 8);
      msg.set(ValueLayout.ADDRESS, 32, control);
      msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
      MemorySegment st = Calls.errnoState(a);
      long n = (long) H.RECVMSG.invokeExact(st, fd, msg, MSG_CMSG_CLOEXEC);
      if (n < 0) {
        throw Calls.failure("recvmsg", st);
      }
      int[] fds = descriptors(control, msg.get(ValueLayout.JAVA_LONG, 40));
      int flags = msg.get(ValueLayout.JAVA_INT, 48);
      if ((flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        for (int f : fds) {
          Fds.closeQuietly(f);
        }
        throw new IOException("recvmsg: message truncated (more than " + maxBytes + " bytes or "
            + MAX_FDS + " descriptors)");
      }
      byte[] data = buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
      return new Received(data, fds, n == 0 && fds.length == 0);
    } catch (Throwable t) {
      throw Calls.unexpected("recvmsg", t);
    }
  }

  /** Every SCM_RIGHTS descriptor in a received control buffer of {@code length} bytes. */
  private static int[] descriptors(MemorySegment control, long length) {
    int[] out = new int[0];
    long off = 0;
    while (off + CMSG_HEADER <= length) {
      long len = control.get(ValueLayout.JAVA_LONG, off);
      if (len < CMSG_HEADER || off + len > length) {
        break;
      }
      if (control.get(ValueLayout.JAVA_INT, off + 8) == SOL_SOCKET
          && control.get(ValueLayout.JAVA_INT, off + 12) == SCM_RIGHTS) {
        int n = (int) ((len - CMSG_HEADER) / 4);
        int base = out.length;
        out = Arrays.copyOf(out, base + n);
        for (int i = 0; i < n; i++) {
          out[base + i] = control.get(ValueLayout.JAVA_INT, off + CMSG_HEADER + 4L * i);
        }
      }
      off += align(len);
    }
    return out;
  }

  /**
   * poll(2): waits up to {@code timeoutMillis} (-1: forever) for input on {@code fds}; fills
   * {@code revents} and returns how many are ready (0 on timeout, and on EINTR).
   */
  public static int poll(int[] fds, short[] revents, int timeoutMillis) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(8L * Math.max(1, fds.length), 4);
      for (int i = 0; i < fds.length; i++) {
        p.set(ValueLayout.JAVA_INT, 8L * i, fds[i]);
        p.set(ValueLayout.JAVA_SHORT, 8L * i + 4, POLLIN);
        p.set(ValueLayout.JAVA_SHORT, 8L * i + 6, (short) 0);
      }
      MemorySegment st = Calls.errnoState(a);
      int n = (int) H.POLL.invokeExact(st, p, (long) fds.length, timeoutMillis);
      if (n < 0) {
        if (Calls.errno(st) == ErrnoException.EINTR) {
          Arrays.fill(revents, (short) 0);
          return 0;
        }
        throw Calls.failure("poll", st);
      }
      for (int i = 0; i < fds.length; i++) {
        revents[i] = p.get(ValueLayout.JAVA_SHORT, 8L * i + 6);
      }
      return n;
    } catch (Throwable t) {
      throw Calls.unexpected("poll", t);
    }
  }

  private static int socket(int type) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = Calls.errnoState(a);
      int fd = (int) H.SOCKET.invokeExact(st, AF_UNIX, type | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        throw Calls.failure("socket(AF_UNIX)", st);
      }
      return fd;
    } catch (Throwable t) {
      throw Calls.unexpected("socket", t);
    }
  }

  private static void bind(int fd, String path) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment addr = address(a, path);
      MemorySegment st = Calls.errnoState(a);
      if ((int) H.BIND.invokeExact(st, fd, addr, (int) addr.byteSize()) != 0) {
        throw Calls.failure("bind to " + path, st);
      }
    } catch (Throwable t) {
      throw Calls.unexpected("bind", t);
    }
  }

  /** struct sockaddr_un for {@code path}; "@name" is abstract (a leading NUL, no trailing one). */
  static MemorySegment address(Arena a, String path) {
    boolean abstractName = path.startsWith("@");
    byte[] p = (abstractName ? path.substring(1) : path).getBytes(StandardCharsets.UTF_8);
    int used = abstractName ? 1 + p.length : p.length + 1;
    if (used > SUN_PATH_MAX) {
      throw new IllegalArgumentException("socket path " + path + " is too long (" + p.length
          + " bytes; a unix socket path has at most " + (SUN_PATH_MAX - 1) + ")");
    }
    MemorySegment s = a.allocate(SOCKADDR_UN_SIZE, 2);
    s.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
    MemorySegment.copy(p, 0, s, ValueLayout.JAVA_BYTE, abstractName ? 3 : 2, p.length);
    return s.asSlice(0, 2 + used);
  }

  private static long align(long len) {
    return (len + 7) & ~7L;
  }
}
