package io.modelcache.os;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.channels.SocketChannel;

/** FFM downcalls: {@code getsockopt(SO_PEERCRED)} and {@code getgrnam}. Linux only. */
public final class Libc {
  private static final int SOL_SOCKET = 1;
  private static final int SO_PEERCRED = 17; // the same on x86-64 and arm64
  /** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
  private static final int UCRED_SIZE = 12;
  /** struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem; }: gid after two pointers. */
  private static final long GR_GID_OFFSET = 2 * ValueLayout.ADDRESS.byteSize();

  private static final StructLayout ERRNO_LAYOUT = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO = ERRNO_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

  private static final class Holder {
    static final Linker LINKER = Linker.nativeLinker();
    static final MethodHandle GETSOCKOPT = LINKER.downcallHandle(
        LINKER.defaultLookup().find("getsockopt").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS),
        Linker.Option.captureCallState("errno"));
    static final MethodHandle GETGRNAM = LINKER.downcallHandle(
        LINKER.defaultLookup().find("getgrnam").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(4, ValueLayout.ADDRESS)),
            ValueLayout.ADDRESS));
  }

  private Libc() {}

  /**
   * The credentials of the process that connected {@code channel} (a connected Unix domain socket).
   *
   * @throws IOException when the descriptor cannot be found or getsockopt fails
   */
  public static PeerCredentials peerCredentials(SocketChannel channel) throws IOException {
    return peerCredentials(Descriptors.fdOf(channel));
  }

  /** The credentials of the process at the other end of the connected Unix socket {@code fd}. */
  public static PeerCredentials peerCredentials(int fd) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cred = arena.allocate(UCRED_SIZE, 4);
      MemorySegment len = arena.allocate(ValueLayout.JAVA_INT);
      len.set(ValueLayout.JAVA_INT, 0, UCRED_SIZE);
      MemorySegment state = arena.allocate(ERRNO_LAYOUT);
      int rc = (int) Holder.GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_PEERCRED, cred, len);
      if (rc != 0) {
        throw new IOException("getsockopt(SO_PEERCRED) failed: errno " + (int) ERRNO.get(state, 0L));
      }
      return new PeerCredentials(Integer.toUnsignedLong(cred.get(ValueLayout.JAVA_INT, 0)),
          cred.get(ValueLayout.JAVA_INT, 4), cred.get(ValueLayout.JAVA_INT, 8));
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("getsockopt(SO_PEERCRED) failed: " + t, t);
    }
  }

  /** The id of group {@code name} through NSS (files, LDAP, ...), or -1 when there is no such group. */
  public static synchronized int groupId(String name) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment gr = (MemorySegment) Holder.GETGRNAM.invokeExact(arena.allocateFrom(name));
      if (gr.equals(MemorySegment.NULL)) {
        return -1;
      }
      return gr.reinterpret(GR_GID_OFFSET + 4).get(ValueLayout.JAVA_INT, GR_GID_OFFSET);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("getgrnam(" + name + ") failed: " + t, t);
    }
  }
}
