package io.modelcache.fuse.kernel.sys;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;

/**
 * The kernel's FUSE ABI ({@code include/uapi/linux/fuse.h}): struct layouts, opcodes and flags.
 * Layouts are declared with their natural alignment, so {@link MemoryLayout#structLayout} rejects a
 * misplaced field; offsets are derived from them, never written by hand.
 */
public final class FuseAbi {
  private FuseAbi() {}

  private static final ValueLayout U16 = ValueLayout.JAVA_SHORT;
  private static final ValueLayout U32 = ValueLayout.JAVA_INT;
  private static final ValueLayout U64 = ValueLayout.JAVA_LONG;

  /** The protocol version this server speaks (7.40: passthrough and FUSE_NOTIFY_RESEND). */
  public static final int KERNEL_VERSION = 7;
  public static final int OUR_MINOR = 40;
  public static final long ROOT_ID = 1;
  public static final int MIN_READ_BUFFER = 8192;

  public static final StructLayout IN_HEADER = MemoryLayout.structLayout(
      U32.withName("len"), U32.withName("opcode"), U64.withName("unique"), U64.withName("nodeid"),
      U32.withName("uid"), U32.withName("gid"), U32.withName("pid"), U16.withName("total_extlen"),
      U16.withName("padding"));
  public static final StructLayout OUT_HEADER = MemoryLayout.structLayout(
      U32.withName("len"), U32.withName("error"), U64.withName("unique"));
  public static final StructLayout ATTR = MemoryLayout.structLayout(
      U64.withName("ino"), U64.withName("size"), U64.withName("blocks"), U64.withName("atime"),
      U64.withName("mtime"), U64.withName("ctime"), U32.withName("atimensec"), U32.withName("mtimensec"),
      U32.withName("ctimensec"), U32.withName("mode"), U32.withName("nlink"), U32.withName("uid"),
      U32.withName("gid"), U32.withName("rdev"), U32.withName("blksize"), U32.withName("flags"));
  public static final StructLayout ENTRY_OUT = MemoryLayout.structLayout(
      U64.withName("nodeid"), U64.withName("generation"), U64.withName("entry_valid"),
      U64.withName("attr_valid"), U32.withName("entry_valid_nsec"), U32.withName("attr_valid_nsec"),
      ATTR.withName("attr"));
  public static final StructLayout ATTR_OUT = MemoryLayout.structLayout(
      U64.withName("attr_valid"), U32.withName("attr_valid_nsec"), U32.withName("dummy"), ATTR.withName("attr"));
  public static final StructLayout OPEN_IN = MemoryLayout.structLayout(
      U32.withName("flags"), U32.withName("open_flags"));
  public static final StructLayout OPEN_OUT = MemoryLayout.structLayout(
      U64.withName("fh"), U32.withName("open_flags"), U32.withName("backing_id"));
  /** struct fuse_backing_map: the argument of FUSE_DEV_IOC_BACKING_OPEN. */
  public static final StructLayout BACKING_MAP = MemoryLayout.structLayout(
      U32.withName("fd"), U32.withName("flags"), U64.withName("padding"));
  public static final StructLayout READ_IN = MemoryLayout.structLayout(
      U64.withName("fh"), U64.withName("offset"), U32.withName("size"), U32.withName("read_flags"),
      U64.withName("lock_owner"), U32.withName("flags"), U32.withName("padding"));
  public static final StructLayout RELEASE_IN = MemoryLayout.structLayout(
      U64.withName("fh"), U32.withName("flags"), U32.withName("release_flags"), U64.withName("lock_owner"));
  public static final StructLayout BATCH_FORGET_IN = MemoryLayout.structLayout(
      U32.withName("count"), U32.withName("dummy"));
  public static final StructLayout FORGET_ONE = MemoryLayout.structLayout(
      U64.withName("nodeid"), U64.withName("nlookup"));
  public static final StructLayout GETXATTR_IN = MemoryLayout.structLayout(
      U32.withName("size"), U32.withName("padding"));
  public static final StructLayout GETXATTR_OUT = MemoryLayout.structLayout(
      U32.withName("size"), U32.withName("padding"));
  public static final StructLayout INIT_IN = MemoryLayout.structLayout(
      U32.withName("major"), U32.withName("minor"), U32.withName("max_readahead"), U32.withName("flags"),
      U32.withName("flags2"), MemoryLayout.sequenceLayout(11, U32).withName("unused"));
  public static final StructLayout INIT_OUT = MemoryLayout.structLayout(
      U32.withName("major"), U32.withName("minor"), U32.withName("max_readahead"), U32.withName("flags"),
      U16.withName("max_background"), U16.withName("congestion_threshold"), U32.withName("max_write"),
      U32.withName("time_gran"), U16.withName("max_pages"), U16.withName("map_alignment"),
      U32.withName("flags2"), U32.withName("max_stack_depth"), U16.withName("request_timeout"),
      MemoryLayout.sequenceLayout(11, U16).withName("unused"));
  public static final StructLayout KSTATFS = MemoryLayout.structLayout(
      U64.withName("blocks"), U64.withName("bfree"), U64.withName("bavail"), U64.withName("files"),
      U64.withName("ffree"), U32.withName("bsize"), U32.withName("namelen"), U32.withName("frsize"),
      U32.withName("padding"), MemoryLayout.sequenceLayout(6, U32).withName("spare"));
  /** {@code struct fuse_dirent} without its name; entries are padded to 8 bytes. */
  public static final StructLayout DIRENT = MemoryLayout.structLayout(
      U64.withName("ino"), U64.withName("off"), U32.withName("namelen"), U32.withName("type"));
  /** {@code struct fuse_direntplus}: an entry_out, then a dirent. */
  public static final StructLayout DIRENTPLUS = MemoryLayout.structLayout(
      ENTRY_OUT.withName("entry_out"), DIRENT.withName("dirent"));

  /** The byte offset of {@code field} in {@code layout}. */
  public static long off(StructLayout layout, String... path) {
    MemoryLayout.PathElement[] p = new MemoryLayout.PathElement[path.length];
    for (int i = 0; i < path.length; i++) {
      p[i] = groupElement(path[i]);
    }
    return layout.byteOffset(p);
  }

  // ---- opcodes (enum fuse_opcode) ----
  public static final int LOOKUP = 1;
  public static final int FORGET = 2;
  public static final int GETATTR = 3;
  public static final int SETATTR = 4;
  public static final int READLINK = 5;
  public static final int SYMLINK = 6;
  public static final int MKNOD = 8;
  public static final int MKDIR = 9;
  public static final int UNLINK = 10;
  public static final int RMDIR = 11;
  public static final int RENAME = 12;
  public static final int LINK = 13;
  public static final int OPEN = 14;
  public static final int READ = 15;
  public static final int WRITE = 16;
  public static final int STATFS = 17;
  public static final int RELEASE = 18;
  public static final int FSYNC = 20;
  public static final int SETXATTR = 21;
  public static final int GETXATTR = 22;
  public static final int LISTXATTR = 23;
  public static final int REMOVEXATTR = 24;
  public static final int FLUSH = 25;
  public static final int INIT = 26;
  public static final int OPENDIR = 27;
  public static final int READDIR = 28;
  public static final int RELEASEDIR = 29;
  public static final int FSYNCDIR = 30;
  public static final int ACCESS = 34;
  public static final int CREATE = 35;
  public static final int INTERRUPT = 36;
  public static final int DESTROY = 38;
  public static final int IOCTL = 39;
  public static final int POLL = 40;
  public static final int BATCH_FORGET = 42;
  public static final int FALLOCATE = 43;
  public static final int READDIRPLUS = 44;
  public static final int RENAME2 = 45;
  public static final int LSEEK = 46;
  public static final int COPY_FILE_RANGE = 47;
  public static final int SYNCFS = 50;
  public static final int TMPFILE = 51;
  public static final int STATX = 52;
  public static final int COPY_FILE_RANGE_64 = 53;

  // ---- INIT flags (bit n; flags2 holds bits 32..63) ----
  public static final long ASYNC_READ = 1L << 0;
  public static final long DO_READDIRPLUS = 1L << 13;
  public static final long PARALLEL_DIROPS = 1L << 18;
  public static final long MAX_PAGES = 1L << 22;
  public static final long INIT_EXT = 1L << 30;
  public static final long PASSTHROUGH = 1L << 37;
  /** 7.43: fuse_init_out.request_timeout (seconds) is honoured. */
  public static final long REQUEST_TIMEOUT = 1L << 42;

  // ---- open reply flags ----
  public static final int FOPEN_KEEP_CACHE = 1 << 1;
  public static final int FOPEN_PASSTHROUGH = 1 << 7;

  // ---- ioctls on /dev/fuse ----
  /** _IOR(229, 0, uint32_t). */
  public static final long FUSE_DEV_IOC_CLONE = 0x8004e500L;
  /** _IOW(229, 1, struct fuse_backing_map). */
  public static final long FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501L;
  /** _IOW(229, 2, uint32_t). */
  public static final long FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502L;

  // ---- notifications (written with unique 0; error holds the code) ----
  public static final int NOTIFY_RESEND = 7;
  /**
   * Set in the unique of a request the kernel queues again after FUSE_NOTIFY_RESEND (an earlier
   * server had read it and not answered); the rest of the unique is the original one.
   */
  public static final long UNIQUE_RESEND = 1L << 63;

  // ---- dirent types ----
  public static final int DT_DIR = 4;
  public static final int DT_REG = 8;
}
