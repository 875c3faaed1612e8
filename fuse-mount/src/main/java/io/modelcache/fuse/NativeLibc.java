package io.modelcache.fuse;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/** The few libc calls FuseMount needs, through jnr-ffi. */
final class NativeLibc {
  /** umount2 flag: detach now, clean up when the last reference goes (umount -l). */
  static final int MNT_DETACH = 2;

  /** The libc functions, bound by jnr-ffi. */
  public interface C {
    int umount2(String target, int flags);

    int statfs(String path, Pointer buf);
  }

  private static final class Holder {
    static final C LIBC = LibraryLoader.create(C.class).load("c");
    static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
  }

  private NativeLibc() {}

  /** 0 on success, else the errno (positive). */
  static int umount2(String target, int flags) {
    int rc = Holder.LIBC.umount2(target, flags);
    return rc == 0 ? 0 : Holder.RUNTIME.getLastError();
  }

  /**
   * 0 when statfs(2) succeeds, else the errno (positive). On FUSE, statfs always reaches the server
   * (nothing caches it), so it tells whether the server is still there.
   */
  static int statfsErrno(String path) {
    Pointer buf = Memory.allocate(Holder.RUNTIME, 256); // struct statfs is 120 bytes on x86_64/arm64
    int rc = Holder.LIBC.statfs(path, buf);
    return rc == 0 ? 0 : Holder.RUNTIME.getLastError();
  }
}
