package io.modelcache.fuse;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/** The few libc calls FuseMount needs, through jnr-ffi. */
final class NativeLibc {
  /** umount2 flag: detach now, clean up when the last reference goes (umount -l). */
  static final int MNT_DETACH = 2;
  /** umount2 flag: do not follow a symbolic link in the last component. */
  static final int UMOUNT_NOFOLLOW = 8;
  static final long MS_RDONLY = 1;
  static final long MS_NOSUID = 2;
  static final long MS_NODEV = 4;
  static final int O_RDWR = 2;
  static final int O_CLOEXEC = 02000000;
  /** The same on x86-64 and arm64. */
  static final int O_PATH = 010000000;
  /** asm-generic (arm64) and x86 differ. */
  static final int O_NOFOLLOW = System.getProperty("os.arch").equals("aarch64") ? 0100000 : 0400000;

  /** The libc functions, bound by jnr-ffi. */
  public interface C {
    int umount2(String target, int flags);

    int statfs(String path, Pointer buf);

    int open(String path, int flags);

    int close(int fd);

    int mount(String source, String target, String type, long flags, String data);
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

  /** A descriptor (>= 0), or minus the errno. */
  static int open(String path, int flags) {
    int fd = Holder.LIBC.open(path, flags);
    return fd >= 0 ? fd : -Holder.RUNTIME.getLastError();
  }

  static void close(int fd) {
    Holder.LIBC.close(fd);
  }

  /** 0 on success, else the errno (positive). */
  static int mount(String source, String target, String type, long flags, String data) {
    int rc = Holder.LIBC.mount(source, target, type, flags, data);
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
