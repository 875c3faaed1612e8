package io.modelcache.os;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/** Downcall handles that capture errno, and the errno of a call as a message. */
final class Calls {
  static final Linker LINKER = Linker.nativeLinker();
  static final StructLayout ERRNO_LAYOUT = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO = ERRNO_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
  private static final MethodHandle STRERROR = LINKER.downcallHandle(
      LINKER.defaultLookup().find("strerror").orElseThrow(),
      FunctionDescriptor.of(java.lang.foreign.ValueLayout.ADDRESS, java.lang.foreign.ValueLayout.JAVA_INT));

  private Calls() {}

  /** A handle to libc's {@code name} whose first argument is the errno capture segment. */
  static MethodHandle withErrno(String name, FunctionDescriptor fd) {
    return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd,
        Linker.Option.captureCallState("errno"));
  }

  static MemorySegment errnoState(Arena arena) {
    return arena.allocate(ERRNO_LAYOUT);
  }

  static int errno(MemorySegment state) {
    return (int) ERRNO.get(state, 0L);
  }

  /** strerror(errno), e.g. "No such file or directory". */
  static String describe(int errno) {
    try {
      MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
      return s.reinterpret(256).getString(0);
    } catch (Throwable t) {
      return "errno " + errno;
    }
  }

  /** An IOException for a failed call: "what: strerror (errno N)". */
  static ErrnoException failure(String what, MemorySegment state) {
    int e = errno(state);
    return new ErrnoException(what + ": " + describe(e), e);
  }

  /** Wraps the checked Throwable of invokeExact. */
  static IOException unexpected(String what, Throwable t) {
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    if (t instanceof IOException io) {
      return io;
    }
    return new IOException(what + " failed: " + t, t);
  }
}
