package io.modelcache.fuse.kernel;

import io.modelcache.fuse.kernel.sys.FuseAbi;

/** Names of the protocol's operations, as counted and reported. Pure; thread-safe. */
public final class Opcodes {
  private Opcodes() {}

  /** The operation's name for counts, metrics and logs (jnr's names where both have one). */
  public static String name(int opcode) {
    return switch (opcode) {
      case FuseAbi.INIT -> "init";
      case FuseAbi.LOOKUP -> "lookup";
      case FuseAbi.FORGET -> "forget";
      case FuseAbi.BATCH_FORGET -> "batch_forget";
      case FuseAbi.GETATTR -> "getattr";
      case FuseAbi.OPEN -> "open";
      case FuseAbi.READ -> "read";
      case FuseAbi.RELEASE -> "release";
      case FuseAbi.OPENDIR -> "opendir";
      case FuseAbi.READDIR -> "readdir";
      case FuseAbi.READDIRPLUS -> "readdirplus";
      case FuseAbi.RELEASEDIR -> "releasedir";
      case FuseAbi.STATFS -> "statfs";
      case FuseAbi.GETXATTR -> "getxattr";
      case FuseAbi.LISTXATTR -> "listxattr";
      case FuseAbi.ACCESS -> "access";
      case FuseAbi.FLUSH -> "flush";
      case FuseAbi.INTERRUPT -> "interrupt";
      case FuseAbi.DESTROY -> "destroy";
      case FuseAbi.SETATTR -> "setattr";
      case FuseAbi.SYMLINK -> "symlink";
      case FuseAbi.MKNOD -> "mknod";
      case FuseAbi.MKDIR -> "mkdir";
      case FuseAbi.UNLINK -> "unlink";
      case FuseAbi.RMDIR -> "rmdir";
      case FuseAbi.RENAME, FuseAbi.RENAME2 -> "rename";
      case FuseAbi.LINK -> "link";
      case FuseAbi.WRITE -> "write";
      case FuseAbi.SETXATTR -> "setxattr";
      case FuseAbi.REMOVEXATTR -> "removexattr";
      case FuseAbi.CREATE -> "create";
      // Answered ENOSYS, but named: tools probe them (Python's open() sends an ioctl for isatty).
      case FuseAbi.READLINK -> "readlink";
      case FuseAbi.FSYNC -> "fsync";
      case FuseAbi.FSYNCDIR -> "fsyncdir";
      case FuseAbi.IOCTL -> "ioctl";
      case FuseAbi.POLL -> "poll";
      case FuseAbi.FALLOCATE -> "fallocate";
      case FuseAbi.LSEEK -> "lseek";
      case FuseAbi.COPY_FILE_RANGE, FuseAbi.COPY_FILE_RANGE_64 -> "copy_file_range";
      case FuseAbi.SYNCFS -> "syncfs";
      case FuseAbi.TMPFILE -> "tmpfile";
      case FuseAbi.STATX -> "statx";
      default -> "opcode-" + opcode;
    };
  }
}
