package io.modelcache.fuse;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/** The few libc calls FuseMount needs, through jnr-ffi. */
final class NativeLibc {
  /** umount2 flag: detach now, clean up when the last reference goes (umount -l). */
  static final int MNT_DETACH = 2;
  static final int F_OK = 0;

  /** The libc functions, bound by jnr-ffi. */
  public interface C {
    int umount2(String target, int flags);

    int access(String path, int mode);
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

  /** 0 when access(F_OK) succeeds, else the errno (positive). */
  static int accessErrno(String path) {
    int rc = Holder.LIBC.access(path, F_OK);
    return rc == 0 ? 0 : Holder.RUNTIME.getLastError();
  }
}
