package io.modelcache.fuse.kernel.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Runs fusermount3 the way libfuse does for a process that is not root: a unix socket pair, one end
 * as the child's descriptor {@link #COMM_FD} named in {@code _FUSE_COMMFD}; fusermount3 (setuid
 * root) opens /dev/fuse, mounts it and sends the descriptor back over the socket (SCM_RIGHTS).
 * ProcessBuilder cannot hand a child an extra descriptor, so the child is started with
 * posix_spawnp(3) and file actions (dup2 of the socket end to {@link #COMM_FD}, stdin and stdout on
 * /dev/null, stderr on a pipe read back for the error line).
 *
 * <p>Threading: stateless; safe from any thread (blocks the caller up to the timeout).
 */
public final class Fusermount {
  /** The child's descriptor number of its socket end (what {@code _FUSE_COMMFD} says). */
  public static final int COMM_FD = 3;

  /** What a run gave: the received /dev/fuse descriptor (or -1), fusermount3's exit code, its stderr. */
  public record Result(int fd, int exitCode, String stderr) {}

  private static final int AF_UNIX = 1;
  private static final int SOCK_STREAM = 1;
  private static final int SOCK_CLOEXEC = Sys.O_CLOEXEC;
  private static final int SOL_SOCKET = 1;
  private static final int SCM_RIGHTS = 1;
  private static final int MSG_CMSG_CLOEXEC = 0x40000000;
  private static final short POLLIN = 1;
  private static final int SIGKILL = 9;
  /** glibc's posix_spawn_file_actions_t is 80 bytes on 64-bit; room to spare. */
  private static final long FILE_ACTIONS_SIZE = 256;

  private static final MethodHandle SOCKETPAIR;
  private static final MethodHandle PIPE2;
  private static final MethodHandle FA_INIT;
  private static final MethodHandle FA_DESTROY;
  private static final MethodHandle FA_DUP2;
  private static final MethodHandle FA_OPEN;
  private static final MethodHandle SPAWNP;
  private static final MethodHandle RECVMSG;
  private static final MethodHandle POLL;
  private static final MethodHandle WAITPID;
  private static final MethodHandle KILL;

  static {
    Linker linker = Linker.nativeLinker();
    var libc = linker.defaultLookup();
    SOCKETPAIR = linker.downcallHandle(libc.find("socketpair").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    PIPE2 = linker.downcallHandle(libc.find("pipe2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    FA_INIT = linker.downcallHandle(libc.find("posix_spawn_file_actions_init").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS));
    FA_DESTROY = linker.downcallHandle(libc.find("posix_spawn_file_actions_destroy").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS));
    FA_DUP2 = linker.downcallHandle(libc.find("posix_spawn_file_actions_adddup2").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    FA_OPEN = linker.downcallHandle(libc.find("posix_spawn_file_actions_addopen").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    SPAWNP = linker.downcallHandle(libc.find("posix_spawnp").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    RECVMSG = linker.downcallHandle(libc.find("recvmsg").orElseThrow(),
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    POLL = linker.downcallHandle(libc.find("poll").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    WAITPID = linker.downcallHandle(libc.find("waitpid").orElseThrow(),
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    KILL = linker.downcallHandle(libc.find("kill").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
  }

  private Fusermount() {}

  /**
   * Runs {@code program} (looked up in {@code PATH} of {@code env}) with {@code args} and its
   * socket end as {@link #COMM_FD}, waits up to {@code timeoutMillis} for a descriptor and for the
   * child's exit (killing it after that), and returns what came back. The received descriptor has
   * FD_CLOEXEC set.
   *
   * @throws IllegalStateException when the socket, pipe or spawn itself fails (errno in the message)
   */
  public static Result run(String program, List<String> args, List<String> env, int timeoutMillis) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment sv = a.allocate(JAVA_INT, 2);
      check((int) SOCKETPAIR.invokeExact(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
      int mine = sv.getAtIndex(JAVA_INT, 0);
      int theirs = sv.getAtIndex(JAVA_INT, 1);
      MemorySegment pipe = a.allocate(JAVA_INT, 2);
      if ((int) PIPE2.invokeExact(pipe, Sys.O_CLOEXEC) != 0) {
        Sys.close(mine);
        Sys.close(theirs);
        throw new IllegalStateException("pipe2 failed");
      }
      int errRead = pipe.getAtIndex(JAVA_INT, 0);
      int errWrite = pipe.getAtIndex(JAVA_INT, 1);
      int pid;
      MemorySegment fa = a.allocate(FILE_ACTIONS_SIZE, 16);
      try {
        check((int) FA_INIT.invokeExact(fa), "posix_spawn_file_actions_init");
        try {
          MemorySegment devNull = a.allocateFrom("/dev/null");
          check((int) FA_OPEN.invokeExact(fa, 0, devNull, Sys.O_RDONLY, 0), "addopen");
          check((int) FA_OPEN.invokeExact(fa, 1, devNull, 1 /* O_WRONLY */, 0), "addopen");
          check((int) FA_DUP2.invokeExact(fa, errWrite, 2), "adddup2");
          // dup2 clears FD_CLOEXEC on the new number (glibc also when the numbers are equal).
          check((int) FA_DUP2.invokeExact(fa, theirs, COMM_FD), "adddup2");
          MemorySegment pidOut = a.allocate(JAVA_INT);
          int rc = (int) SPAWNP.invokeExact(pidOut, a.allocateFrom(program), fa, MemorySegment.NULL,
              strings(a, program, args), strings(a, null, env));
          if (rc != 0) {
            throw new IllegalStateException("cannot start " + program + " (errno " + rc + ")");
          }
          pid = pidOut.get(JAVA_INT, 0);
        } finally {
          int ignored = (int) FA_DESTROY.invokeExact(fa);
        }
      } finally {
        Sys.close(theirs); // the child holds its copy; EOF on ours once it exits
        Sys.close(errWrite);
      }
      long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
      int fd;
      try {
        fd = receive(a, mine, deadline);
      } finally {
        Sys.close(mine);
      }
      int exit = reap(a, pid, deadline);
      String stderr = drain(a, errRead);
      Sys.close(errRead);
      return new Result(fd, exit, stderr);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  private static void check(int rc, String call) {
    if (rc != 0) {
      throw new IllegalStateException(call + " failed (" + rc + ")");
    }
  }

  /** A NULL-terminated char*[]: {@code first} (when not null) then {@code rest}. */
  private static MemorySegment strings(Arena a, String first, List<String> rest) {
    int n = rest.size() + (first != null ? 1 : 0);
    MemorySegment v = a.allocate(ADDRESS, n + 1);
    int i = 0;
    if (first != null) {
      v.setAtIndex(ADDRESS, i++, a.allocateFrom(first));
    }
    for (String s : rest) {
      v.setAtIndex(ADDRESS, i++, a.allocateFrom(s));
    }
    v.setAtIndex(ADDRESS, i, MemorySegment.NULL);
    return v;
  }

  /** Waits for readability until {@code deadline}; false on timeout. */
  private static boolean await(Arena a, int fd, long deadline) throws Throwable {
    MemorySegment pfd = a.allocate(8, 4); // struct pollfd { int fd; short events; short revents; }
    while (true) {
      long left = (deadline - System.nanoTime()) / 1_000_000L;
      if (left <= 0) {
        return false;
      }
      pfd.set(JAVA_INT, 0, fd);
      pfd.set(JAVA_SHORT, 4, POLLIN);
      pfd.set(JAVA_SHORT, 6, (short) 0);
      int n = (int) POLL.invokeExact(pfd, 1L, (int) Math.min(left, Integer.MAX_VALUE));
      if (n > 0) {
        return true;
      }
      // n == 0: timed out this round; n < 0: EINTR most likely; loop to the deadline either way
    }
  }

  /** One recvmsg of a byte and an SCM_RIGHTS descriptor; the descriptor, or -1 (EOF, timeout, none). */
  private static int receive(Arena a, int sock, long deadline) throws Throwable {
    if (!await(a, sock, deadline)) {
      return -1;
    }
    MemorySegment data = a.allocate(8);
    MemorySegment iov = a.allocate(16, 8);
    iov.set(ADDRESS, 0, data);
    iov.set(JAVA_LONG, 8, 1L);
    MemorySegment control = a.allocate(64, 8);
    control.fill((byte) 0);
    MemorySegment msg = a.allocate(56, 8); // struct msghdr on 64-bit Linux
    msg.fill((byte) 0);
    msg.set(ADDRESS, 16, iov); // msg_iov
    msg.set(JAVA_LONG, 24, 1L); // msg_iovlen
    msg.set(ADDRESS, 32, control); // msg_control
    msg.set(JAVA_LONG, 40, control.byteSize()); // msg_controllen
    long n = (long) RECVMSG.invokeExact(sock, msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
      return -1;
    }
    long controlLen = msg.get(JAVA_LONG, 40);
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; unsigned char data[]; }
    if (controlLen >= 20 && control.get(JAVA_INT, 8) == SOL_SOCKET && control.get(JAVA_INT, 12) == SCM_RIGHTS) {
      return control.get(JAVA_INT, 16);
    }
    return -1;
  }

  /** Waits for the child until {@code deadline}, then kills it; its exit code (128+signal when killed). */
  private static int reap(Arena a, int pid, long deadline) throws Throwable {
    MemorySegment status = a.allocate(JAVA_INT);
    while (true) {
      int r = (int) WAITPID.invokeExact(pid, status, 1 /* WNOHANG */);
      if (r == pid) {
        int s = status.get(JAVA_INT, 0);
        return (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
      }
      if (r < 0) {
        return -1;
      }
      if (System.nanoTime() > deadline) {
        int ignored = (int) KILL.invokeExact(pid, SIGKILL);
        int w = (int) WAITPID.invokeExact(pid, status, 0);
        return 128 + SIGKILL;
      }
      Thread.sleep(5);
    }
  }

  private static String drain(Arena a, int fd) {
    MemorySegment buf = a.allocate(4096);
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < 16; i++) { // the child has exited: what it wrote is in the pipe, then EOF
      long n = Sys.read(fd, buf, buf.byteSize());
      if (n <= 0) {
        break;
      }
      out.append(new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
    }
    return out.toString().strip();
  }
}
