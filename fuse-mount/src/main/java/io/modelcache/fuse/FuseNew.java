package io.modelcache.fuse;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * libfuse2's {@code fuse_new@@FUSE_2.6}, called through the FFM API. Why not jnr-ffi like the rest:
 * libfuse2 also exports an unversioned {@code fuse_new} (the 2.2-era {@code fuse_new_compat2(int fd,
 * const char *opts, ...)}), and a lookup by name alone (dlsym, which jnr uses) finds that one; only
 * dlvsym picks the 2.6 function. Thread-safe; the handle is bound once.
 */
final class FuseNew {
  private static final int RTLD_NOW = 2;

  private static final class Holder {
    static final MethodHandle FUSE_NEW = bind();
  }

  private FuseNew() {}

  private static MethodHandle bind() {
    Linker linker = Linker.nativeLinker();
    var libc = linker.defaultLookup();
    MethodHandle dlopen = linker.downcallHandle(libc.find("dlopen").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    MethodHandle dlvsym = linker.downcallHandle(libc.find("dlvsym").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment lib = (MemorySegment) dlopen.invokeExact(arena.allocateFrom("libfuse.so.2"), RTLD_NOW);
      if (lib.equals(MemorySegment.NULL)) {
        throw new UnsatisfiedLinkError("cannot load libfuse.so.2");
      }
      MemorySegment fn = (MemorySegment) dlvsym.invokeExact(lib, arena.allocateFrom("fuse_new"), arena.allocateFrom("FUSE_2.6"));
      if (fn.equals(MemorySegment.NULL)) {
        throw new UnsatisfiedLinkError("libfuse.so.2 has no fuse_new@FUSE_2.6");
      }
      return linker.downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
          ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException("binding fuse_new failed: " + t, t);
    }
  }

  /**
   * {@code struct fuse *fuse_new(struct fuse_chan *ch, struct fuse_args *args, const struct
   * fuse_operations *op, size_t op_size, void *user_data)} with {@code args} built from
   * {@code argv}; returns the address of the new {@code struct fuse}, or 0 when libfuse refused
   * (it prints why on stderr).
   */
  static long call(long chan, String[] argv, long ops, long opsSize) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment array = arena.allocate(ValueLayout.ADDRESS, argv.length + 1); // NULL-terminated
      for (int i = 0; i < argv.length; i++) {
        array.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(argv[i]));
      }
      // struct fuse_args { int argc; char **argv; int allocated; }
      MemorySegment args = arena.allocate(24, 8);
      args.set(ValueLayout.JAVA_INT, 0, argv.length);
      args.set(ValueLayout.ADDRESS, 8, array);
      args.set(ValueLayout.JAVA_INT, 16, 0);
      return (long) Holder.FUSE_NEW.invokeExact(chan, args, ops, opsSize, 0L);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException("fuse_new failed: " + t, t);
    }
  }
}
