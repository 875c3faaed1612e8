package io.modelcache.fuse.kernel;

import static io.modelcache.fuse.kernel.Wire.cstring;
import static io.modelcache.fuse.kernel.Wire.align8;
import static io.modelcache.fuse.kernel.Wire.header;
import static io.modelcache.fuse.kernel.Wire.set32;
import static io.modelcache.fuse.kernel.Wire.set64;
import static io.modelcache.fuse.kernel.Wire.u32;
import static io.modelcache.fuse.kernel.Wire.u64;
import static io.modelcache.fuse.kernel.sys.FuseAbi.off;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.Errno;
import io.modelcache.fuse.Loan;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.Xattrs;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-only filesystem in the kernel's FUSE protocol: one request's bytes in, its reply's bytes
 * out, over a {@link ReadOnlyTree}. No I/O here beyond the tree's own reads, so it is tested byte
 * for byte without a kernel.
 *
 * <p>Every request goes through the one {@link CallWrapper} (timing, counting, slow-call log,
 * Throwable to errno). Node ids come from a {@link NodeTable} (the tree's sorted paths); a file
 * handle is {@code nodeId << 32 | n}, so a READ on a handle this process never gave out (a
 * connection taken over from an earlier server) is served by opening the node the kernel names.
 * Nothing is ever written: every operation that would change the tree is answered EROFS, unknown
 * opcodes ENOSYS.
 *
 * <p>Threading: {@link #handle} is called concurrently from serving threads, each with its own
 * buffers; state (open handles) is in concurrent maps.
 */
public final class KernelFs {
  private static final Logger LOG = LoggerFactory.getLogger(KernelFs.class);
  /** Files never change: the kernel may keep entries, misses and attributes for an hour. */
  public static final long VALID_SECONDS = 3600;
  static final int BLOCK = 4096;
  private static final int O_ACCMODE = 3;
  private static final int EPROTO = 71;

  static final long H_LEN = off(FuseAbi.IN_HEADER, "len");
  static final long H_OPCODE = off(FuseAbi.IN_HEADER, "opcode");
  static final long H_UNIQUE = off(FuseAbi.IN_HEADER, "unique");
  static final long H_NODEID = off(FuseAbi.IN_HEADER, "nodeid");
  static final long H_EXTLEN = off(FuseAbi.IN_HEADER, "total_extlen");
  static final int IN_SIZE = (int) FuseAbi.IN_HEADER.byteSize();
  static final int OUT_SIZE = (int) FuseAbi.OUT_HEADER.byteSize();

  private final ReadOnlyTree tree;
  private final NodeTable nodes;
  private final CallWrapper wrapper;
  private final InitConfig config;
  private final OpenHook hook;
  private final Map<Long, OpenHandle> handles = new ConcurrentHashMap<>();
  private final AtomicInteger opens = new AtomicInteger();
  /** Bits 24..31 of every file handle's low word: which server of the connection gave it out. */
  private volatile int handleEpoch;
  private final CompletableFuture<Negotiated> negotiated = new CompletableFuture<>();

  public KernelFs(ReadOnlyTree tree, NodeTable nodes, CallWrapper wrapper, InitConfig config, OpenHook hook) {
    this.tree = tree;
    this.nodes = nodes;
    this.wrapper = wrapper;
    this.config = config;
    this.hook = hook;
  }

  /** Completed once INIT has been answered (or {@link #adopted} when the connection is taken over). */
  public CompletableFuture<Negotiated> negotiated() {
    return negotiated;
  }

  /** For a connection that was initialised by an earlier server: no INIT will come. */
  public void adopted(Negotiated earlier) {
    hook.initialized(earlier);
    negotiated.complete(earlier);
  }

  /**
   * Sets which server of the connection this is (0..255; see {@link io.modelcache.fuse.OpenLog}),
   * so that its file handles never equal one an earlier server gave out and the kernel still
   * holds. Call before serving.
   */
  public void handleEpoch(int epoch) {
    this.handleEpoch = epoch & 0xff;
  }

  /** The file handle of the {@code n}-th open of node {@code nodeid}. */
  long fileHandle(long nodeid, int n) {
    return (nodeid << 32) | (Integer.toUnsignedLong(handleEpoch) << 24) | (n & 0xffffffL);
  }

  public CallWrapper wrapper() {
    return wrapper;
  }

  public NodeTable nodes() {
    return nodes;
  }

  public int openHandles() {
    return handles.size();
  }

  /** The opcode of the request in {@code req}. */
  public static int opcode(MemorySegment req) {
    return req.get(ValueLayout.JAVA_INT_UNALIGNED, H_OPCODE);
  }

  /**
   * Handles the request in the first {@code len} bytes of {@code req} and writes its reply at the
   * start of {@code reply}; returns the reply's length, or 0 for a request that takes no reply
   * (FORGET, BATCH_FORGET, INTERRUPT). Never throws for a bad request or a failing tree.
   */
  public int handle(MemorySegment req, int len, MemorySegment reply) {
    return handle(req, len, reply, null);
  }

  /**
   * As {@link #handle(MemorySegment, int, MemorySegment)}, and when {@code data} is not null a READ
   * may be answered with data outside the reply buffer: a range to splice (an open served by the
   * daemon whose reader had a backing file: {@link SplicedFile}) or memory the reader lends ({@link ReadOnlyTree.FileReader#lend}). Then
   * {@code reply} holds only the 16-byte header, {@code data} the rest, and the length returned
   * (header plus data) is what the caller sends with {@link ReplyData#send}. Otherwise {@code data}
   * is empty and the reply is all in {@code reply}.
   */
  public int handle(MemorySegment req, int len, MemorySegment reply, ReplyData data) {
    if (data != null) {
      data.clear();
    }
    if (len < IN_SIZE) {
      LOG.warn("FUSE request of {} bytes is shorter than its header; dropped", len);
      return 0;
    }
    int opcode = u32(req, H_OPCODE);
    long unique = u64(req, H_UNIQUE);
    long nodeid = u64(req, H_NODEID);
    int declared = u32(req, H_LEN);
    int ext = Short.toUnsignedInt(req.get(ValueLayout.JAVA_SHORT_UNALIGNED, H_EXTLEN)) * 8;
    if (declared != len || IN_SIZE + ext > len) {
      LOG.warn("FUSE request {} (opcode {}) says {} bytes but {} arrived; answered EIO", unique, opcode, declared, len);
      return header(reply, OUT_SIZE, -Errno.EIO, unique);
    }
    MemorySegment arg = req.asSlice(IN_SIZE, len - IN_SIZE - ext);
    MemorySegment payload = reply.asSlice(OUT_SIZE);
    int[] out = new int[1];
    String path = nodes.path(nodeid);
    String logPath = path == null ? "#" + nodeid : path;
    switch (opcode) {
      case FuseAbi.FORGET, FuseAbi.BATCH_FORGET, FuseAbi.INTERRUPT -> {
        // Node ids live as long as the tree; nothing to forget. An interrupted read finishes anyway.
        wrapper.call(Opcodes.name(opcode), logPath, () -> 0);
        return 0;
      }
      default -> { }
    }
    int result = wrapper.call(Opcodes.name(opcode), logPath,
        () -> body(opcode, unique, nodeid, path, arg, payload, out, data));
    if (result < 0) {
      if (data != null) {
        data.clear();
      }
      return header(reply, OUT_SIZE, result, unique);
    }
    return header(reply, OUT_SIZE + out[0], 0, unique);
  }

  private int body(int opcode, long unique, long nodeid, String path, MemorySegment arg, MemorySegment p, int[] out,
      ReplyData data) throws Exception {
    return switch (opcode) {
      case FuseAbi.INIT -> init(arg, p, out);
      case FuseAbi.LOOKUP -> lookup(path, arg, p, out);
      case FuseAbi.GETATTR -> getattr(nodeid, path, p, out);
      case FuseAbi.OPEN -> open(unique, nodeid, path, arg, p, out);
      case FuseAbi.READ -> read(nodeid, path, arg, p, out, data);
      case FuseAbi.RELEASE -> release(arg);
      case FuseAbi.OPENDIR -> opendir(nodeid, path, p, out);
      case FuseAbi.READDIR -> readdir(nodeid, path, arg, p, out, false);
      case FuseAbi.READDIRPLUS -> readdir(nodeid, path, arg, p, out, true);
      case FuseAbi.RELEASEDIR, FuseAbi.FLUSH, FuseAbi.DESTROY -> 0;
      case FuseAbi.STATFS -> statfs(p, out);
      case FuseAbi.GETXATTR -> getxattr(path, arg, p, out);
      case FuseAbi.LISTXATTR -> listxattr(path, arg, p, out);
      case FuseAbi.ACCESS -> path == null || tree.stat(path) == null ? -Errno.ENOENT : 0;
      case FuseAbi.SETATTR, FuseAbi.SYMLINK, FuseAbi.MKNOD, FuseAbi.MKDIR, FuseAbi.UNLINK, FuseAbi.RMDIR,
          FuseAbi.RENAME, FuseAbi.LINK, FuseAbi.WRITE, FuseAbi.SETXATTR, FuseAbi.REMOVEXATTR, FuseAbi.CREATE,
          FuseAbi.FALLOCATE, FuseAbi.RENAME2, FuseAbi.COPY_FILE_RANGE, FuseAbi.TMPFILE,
          FuseAbi.COPY_FILE_RANGE_64 -> -Errno.EROFS;
      default -> -Errno.ENOSYS;
    };
  }

  // ---- INIT ----

  private int init(MemorySegment arg, MemorySegment p, int[] out) {
    Negotiated n = InitReply.answer(config, arg, p, out);
    if (n == null) {
      return -EPROTO;
    }
    hook.initialized(n);
    negotiated.complete(n);
    return 0;
  }

  // ---- lookups and attributes ----

  private static final int ENTRY_SIZE = (int) FuseAbi.ENTRY_OUT.byteSize();

  private int lookup(String dir, MemorySegment arg, MemorySegment p, int[] out) {
    if (dir == null) {
      return -Errno.ENOENT;
    }
    String child = NodeTable.child(dir, cstring(arg, 0));
    long id = nodes.id(child);
    NodeAttributes a = id == 0 ? null : tree.stat(child);
    ReplyEncoding.entry(p, id, a);
    out[0] = ENTRY_SIZE;
    return 0; // a miss is an entry with node id 0: the kernel caches it for entry_valid
  }

  private static final long A_VALID = off(FuseAbi.ATTR_OUT, "attr_valid");
  private static final long A_ATTR = off(FuseAbi.ATTR_OUT, "attr");

  private int getattr(long nodeid, String path, MemorySegment p, int[] out) {
    NodeAttributes a = path == null ? null : tree.stat(path);
    if (a == null) {
      return -Errno.ENOENT;
    }
    MemorySegment o = p.asSlice(0, FuseAbi.ATTR_OUT.byteSize());
    o.fill((byte) 0);
    set64(o, A_VALID, VALID_SECONDS);
    ReplyEncoding.attr(o.asSlice(A_ATTR), nodeid, a);
    out[0] = (int) FuseAbi.ATTR_OUT.byteSize();
    return 0;
  }

  // ---- files ----

  private static final long OPEN_FLAGS = off(FuseAbi.OPEN_IN, "flags");
  private static final long R_FH = off(FuseAbi.READ_IN, "fh");
  private static final long R_OFFSET = off(FuseAbi.READ_IN, "offset");
  private static final long R_SIZE = off(FuseAbi.READ_IN, "size");
  private static final long REL_FH = off(FuseAbi.RELEASE_IN, "fh");

  private int open(long unique, long nodeid, String path, MemorySegment arg, MemorySegment p, int[] out)
      throws Exception {
    if ((u32(arg, OPEN_FLAGS) & O_ACCMODE) != 0) {
      return -Errno.EROFS;
    }
    NodeAttributes a = path == null ? null : tree.stat(path);
    if (a == null) {
      return -Errno.ENOENT;
    }
    if (a.directory()) {
      return -Errno.EISDIR;
    }
    ReadOnlyTree.FileReader reader = tree.open(path);
    OpenReply reply;
    try {
      // Resent after a take-over: an earlier server may have recorded this open, then died before replying.
      java.util.Optional<OpenReply> earlier = (unique & FuseAbi.UNIQUE_RESEND) != 0
          ? hook.resent(unique & ~FuseAbi.UNIQUE_RESEND, path, reader) : java.util.Optional.empty();
      reply = earlier.isPresent() ? earlier.get() : hook.opened(path, reader,
          new OpenReply(fileHandle(nodeid, opens.incrementAndGet()), FuseAbi.FOPEN_KEEP_CACHE, 0),
          unique & ~FuseAbi.UNIQUE_RESEND);
      OpenHandle replaced = handles.put(reply.fh(), new OpenHandle(reader, reply, spliced(reader, reply)));
      if (replaced != null) {
        replaced.close(); // not expected (handles are unique per open); never leak its pin
      }
    } catch (Throwable t) {
      reader.close();
      throw t;
    }
    ReplyEncoding.openOut(p, reply);
    out[0] = (int) FuseAbi.OPEN_OUT.byteSize();
    return 0;
  }

  private int read(long nodeid, String path, MemorySegment arg, MemorySegment p, int[] out,
      ReplyData data) throws Exception {
    long fh = u64(arg, R_FH);
    long offset = u64(arg, R_OFFSET);
    long size = Integer.toUnsignedLong(u32(arg, R_SIZE));
    OpenHandle o = handles.get(fh);
    if (o == null) {
      // A handle given out by an earlier server of this connection: open the node it names.
      if (path == null || fh >>> 32 != nodeid) {
        return -Errno.EBADF;
      }
      ReadOnlyTree.FileReader r = tree.open(path);
      OpenReply earlier = new OpenReply(fh, FuseAbi.FOPEN_KEEP_CACHE, 0);
      OpenHandle mine = new OpenHandle(r, earlier, spliced(r, earlier));
      o = handles.putIfAbsent(fh, mine);
      if (o == null) {
        o = mine;
      } else {
        mine.close();
      }
    }
    int want = (int) Math.min(size, p.byteSize());
    // Spliced only while the content is final: a tree that found part of the file damaged since
    // (and is fetching it again) serves reads through read() meanwhile.
    if (data != null && o.spliced() != null && o.reader().contentFinal()) {
      SplicedFile.Range r = o.spliced().take(offset, want);
      if (r != null && SpliceReply.forThread().fits(r)) {
        data.range(r, o.spliced());
        o.reader().servedInPlace(offset, r.length());
        out[0] = r.length();
        return r.length();
      }
      if (r != null) {
        o.spliced().done(); // too small or too large for this thread's pipe: copied below
      }
    }
    if (data != null && want > 0) {
      Loan l = o.reader().lend(offset, want);
      if (l != null) {
        if (l.length() <= 0 || l.length() > want) {
          l.close(); // a reader's mistake: serve this read through read()
        } else {
          data.loan(l);
          out[0] = l.length();
          return l.length();
        }
      }
    }
    ByteBuffer dst = p.asSlice(0, want).asByteBuffer();
    int n = ReadOnlyTree.FileReader.readFully(o.reader(), offset, dst);
    out[0] = n;
    return n;
  }

  /**
   * For an open served here (not passthrough) whose reader has a backing file now, when splicing is
   * on: that file, held open until RELEASE, so that READ replies are spliced from it.
   */
  private SplicedFile spliced(ReadOnlyTree.FileReader reader, OpenReply reply) {
    if (!config.spliceReplies() || (reply.openFlags() & FuseAbi.FOPEN_PASSTHROUGH) != 0) {
      return null;
    }
    return reader.backing().map(SplicedFile::open).orElse(null);
  }

  private int release(MemorySegment arg) {
    long fh = u64(arg, REL_FH);
    OpenHandle o = handles.remove(fh);
    if (o != null) {
      try {
        o.close();
      } finally {
        hook.released(o.reply());
      }
    } else {
      hook.released(new OpenReply(fh, 0, 0)); // an earlier server's handle, never read through here
    }
    return 0;
  }

  /** This server hands the connection over; it stays mounted (see {@link OpenHook#left}). */
  public void left() {
    hook.left();
  }

  /** Closes every reader the kernel never released (the connection is gone). */
  public void closeAll() {
    hook.ended();
    for (Long fh : List.copyOf(handles.keySet())) {
      OpenHandle o = handles.remove(fh);
      if (o != null) {
        try {
          o.close();
          hook.released(o.reply());
        } catch (Throwable t) {
          LOG.warn("closing a reader failed", t);
        }
      }
    }
  }

  // ---- directories ----

  private int opendir(long nodeid, String path, MemorySegment p, int[] out) {
    NodeAttributes a = path == null ? null : tree.stat(path);
    if (a == null) {
      return -Errno.ENOENT;
    }
    if (!a.directory()) {
      return -Errno.ENOTDIR;
    }
    ReplyEncoding.openOut(p, new OpenReply(nodeid, 0, 0));
    out[0] = (int) FuseAbi.OPEN_OUT.byteSize();
    return 0;
  }

  private static final int DIRENT_SIZE = (int) FuseAbi.DIRENT.byteSize();

  /**
   * READDIR and READDIRPLUS: entry i is ".", "..", then the tree's names in its order; the offset
   * of an entry is i + 1, so the kernel resumes where a full buffer stopped.
   */
  private int readdir(long nodeid, String path, MemorySegment arg, MemorySegment p, int[] out, boolean plus) {
    List<String> names = path == null ? null : tree.list(path);
    if (names == null) {
      return path == null || tree.stat(path) == null ? -Errno.ENOENT : -Errno.ENOTDIR;
    }
    long start = u64(arg, R_OFFSET);
    long size = Math.min(Integer.toUnsignedLong(u32(arg, R_SIZE)), p.byteSize());
    int pos = 0;
    for (long i = start; i < names.size() + 2L; i++) {
      String name;
      long id;
      NodeAttributes a = null;
      if (i < 2) {
        name = i == 0 ? "." : "..";
        id = i == 0 ? nodeid : nodes.parent(nodeid);
      } else {
        name = names.get((int) (i - 2));
        String child = NodeTable.child(path, name);
        id = nodes.id(child);
        a = id == 0 ? null : tree.stat(child);
        if (a == null) {
          continue; // not part of this mount's tree
        }
      }
      byte[] nb = name.getBytes(StandardCharsets.UTF_8);
      int head = plus ? ENTRY_SIZE : 0;
      int len = align8(head + DIRENT_SIZE + nb.length);
      if (pos + len > size) {
        break;
      }
      MemorySegment e = p.asSlice(pos, len);
      e.fill((byte) 0);
      if (plus && a != null) {
        ReplyEncoding.entry(e, id, a); // "." and ".." keep a zero entry: the kernel does not look them up
      }
      MemorySegment d = e.asSlice(head);
      set64(d, off(FuseAbi.DIRENT, "ino"), id);
      set64(d, off(FuseAbi.DIRENT, "off"), i + 1);
      set32(d, off(FuseAbi.DIRENT, "namelen"), nb.length);
      set32(d, off(FuseAbi.DIRENT, "type"), a == null || a.directory() ? FuseAbi.DT_DIR : FuseAbi.DT_REG);
      MemorySegment.copy(nb, 0, d, ValueLayout.JAVA_BYTE, DIRENT_SIZE, nb.length);
      pos += len;
    }
    out[0] = pos;
    return 0;
  }


  // ---- statfs and xattrs ----

  private int statfs(MemorySegment p, int[] out) {
    MemorySegment s = p.asSlice(0, FuseAbi.KSTATFS.byteSize());
    s.fill((byte) 0);
    set64(s, off(FuseAbi.KSTATFS, "blocks"), (tree.totalBytes() + BLOCK - 1) / BLOCK);
    set32(s, off(FuseAbi.KSTATFS, "bsize"), BLOCK);
    set32(s, off(FuseAbi.KSTATFS, "namelen"), 255);
    set32(s, off(FuseAbi.KSTATFS, "frsize"), BLOCK);
    out[0] = (int) FuseAbi.KSTATFS.byteSize();
    return 0;
  }

  private static final long X_SIZE = off(FuseAbi.GETXATTR_IN, "size");
  private static final int X_IN_SIZE = (int) FuseAbi.GETXATTR_IN.byteSize();

  private int getxattr(String path, MemorySegment arg, MemorySegment p, int[] out) {
    if (path == null || tree.stat(path) == null) {
      return -Errno.ENOENT;
    }
    byte[] v = tree.xattrs(path).get(cstring(arg, X_IN_SIZE));
    if (v == null) {
      return Xattrs.missing();
    }
    return ReplyEncoding.xattrReply(v, Integer.toUnsignedLong(u32(arg, X_SIZE)), p, out);
  }

  private int listxattr(String path, MemorySegment arg, MemorySegment p, int[] out) {
    if (path == null || tree.stat(path) == null) {
      return -Errno.ENOENT;
    }
    return ReplyEncoding.xattrReply(Xattrs.nameList(tree.xattrs(path)), Integer.toUnsignedLong(u32(arg, X_SIZE)), p, out);
  }
}
