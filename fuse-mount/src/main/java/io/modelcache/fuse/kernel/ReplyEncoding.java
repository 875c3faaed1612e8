package io.modelcache.fuse.kernel;

import static io.modelcache.fuse.kernel.Wire.set32;
import static io.modelcache.fuse.kernel.Wire.set64;
import static io.modelcache.fuse.kernel.sys.FuseAbi.off;

import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.Xattrs;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The reply structs {@link KernelFs} writes that are more than a field or two: entries, attributes,
 * open replies and xattr replies, encoded into a reply buffer (pure; no I/O). Split from KernelFs,
 * which decides what to answer; this says how it looks on the wire.
 */
final class ReplyEncoding {
  private static final int ENTRY_SIZE = (int) FuseAbi.ENTRY_OUT.byteSize();
  private static final long E_NODEID = off(FuseAbi.ENTRY_OUT, "nodeid");
  private static final long E_ENTRY_VALID = off(FuseAbi.ENTRY_OUT, "entry_valid");
  private static final long E_ATTR_VALID = off(FuseAbi.ENTRY_OUT, "attr_valid");
  private static final long E_ATTR = off(FuseAbi.ENTRY_OUT, "attr");

  private static final int S_IFDIR = 0040000;
  private static final int S_IFREG = 0100000;

  /** {@code fuse_entry_out} for node {@code id}; a negative entry (id 0, no attributes) when a is null. */
  static void entry(MemorySegment p, long id, NodeAttributes a) {
    MemorySegment e = p.asSlice(0, ENTRY_SIZE);
    e.fill((byte) 0);
    set64(e, E_NODEID, a == null ? 0 : id);
    set64(e, E_ENTRY_VALID, KernelFs.VALID_SECONDS);
    if (a != null) {
      set64(e, E_ATTR_VALID, KernelFs.VALID_SECONDS);
      attr(e.asSlice(E_ATTR), id, a);
    }
  }

  /** {@code struct fuse_attr}: ino is the node id; atime and ctime are the mtime. */
  static void attr(MemorySegment s, long ino, NodeAttributes a) {
    set64(s, off(FuseAbi.ATTR, "ino"), ino);
    set64(s, off(FuseAbi.ATTR, "size"), a.size());
    set64(s, off(FuseAbi.ATTR, "blocks"), (a.size() + 511) / 512);
    for (String t : new String[] {"atime", "mtime", "ctime"}) {
      set64(s, off(FuseAbi.ATTR, t), a.mtimeEpochSecond());
      set32(s, off(FuseAbi.ATTR, t + "nsec"), a.mtimeNanos());
    }
    set32(s, off(FuseAbi.ATTR, "mode"), (a.directory() ? S_IFDIR : S_IFREG) | (a.mode() & 07777));
    set32(s, off(FuseAbi.ATTR, "nlink"), a.directory() ? 2 : 1);
    set32(s, off(FuseAbi.ATTR, "uid"), a.uid());
    set32(s, off(FuseAbi.ATTR, "gid"), a.gid());
    set32(s, off(FuseAbi.ATTR, "rdev"), 0);
    set32(s, off(FuseAbi.ATTR, "blksize"), KernelFs.BLOCK);
    set32(s, off(FuseAbi.ATTR, "flags"), 0);
  }

  static void openOut(MemorySegment p, OpenReply r) {
    set64(p, off(FuseAbi.OPEN_OUT, "fh"), r.fh());
    set32(p, off(FuseAbi.OPEN_OUT, "open_flags"), r.openFlags());
    set32(p, off(FuseAbi.OPEN_OUT, "backing_id"), r.backingId());
  }

  /** A size-0 probe gets {@code fuse_getxattr_out} with the size needed; else the bytes or ERANGE. */
  static int xattrReply(byte[] v, long size, MemorySegment p, int[] out) {
    int r = Xattrs.result(v.length, size);
    if (r < 0) {
      return r;
    }
    if (size == 0) {
      MemorySegment o = p.asSlice(0, FuseAbi.GETXATTR_OUT.byteSize());
      o.fill((byte) 0);
      set32(o, off(FuseAbi.GETXATTR_OUT, "size"), v.length);
      out[0] = (int) FuseAbi.GETXATTR_OUT.byteSize();
    } else {
      MemorySegment.copy(v, 0, p, ValueLayout.JAVA_BYTE, 0, v.length);
      out[0] = v.length;
    }
    return r;
  }

  private ReplyEncoding() {}
}
