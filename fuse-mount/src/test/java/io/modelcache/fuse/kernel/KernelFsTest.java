package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The kernel protocol codec without a kernel: requests as the kernel writes them, replies compared
 * byte for byte with encodings written field by field in fuse.h order (independent of the layouts).
 */
class KernelFsTest {
  static final long UNIQUE = 0x0102030405060708L;

  /** A little-endian byte builder, fields in declaration order. */
  static final class Le {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Le u16(int v) {
      out.write(v & 0xff);
      out.write((v >>> 8) & 0xff);
      return this;
    }

    Le u32(long v) {
      return u16((int) (v & 0xffff)).u16((int) ((v >>> 16) & 0xffff));
    }

    Le u64(long v) {
      return u32(v & 0xffffffffL).u32(v >>> 32);
    }

    Le bytes(byte[] b) {
      out.writeBytes(b);
      return this;
    }

    Le zeros(int n) {
      return bytes(new byte[n]);
    }

    Le cstr(String s) {
      return bytes(s.getBytes(StandardCharsets.UTF_8)).zeros(1);
    }

    byte[] get() {
      return out.toByteArray();
    }
  }

  /** A tree: /, /a (dir 0750, mtime 1700000001.5), /a/f (5 bytes, 0440), /z (0 bytes); xattrs on /a/f. */
  static class Tree implements ReadOnlyTree {
    final Map<String, NodeAttributes> nodes = new TreeMap<>();
    final AtomicInteger open = new AtomicInteger();
    final byte[] f = "hello".getBytes(StandardCharsets.UTF_8);

    Tree() {
      nodes.put("/", NodeAttributes.directory(0755, 1_700_000_000L));
      nodes.put("/a", new NodeAttributes(true, 0, 0750, 0, 0, 1_700_000_001L, 5));
      nodes.put("/a/f", new NodeAttributes(false, f.length, 0440, 1000, 100, 1_700_000_002L, 7));
      nodes.put("/z", new NodeAttributes(false, 0, 0644, 0, 0, 1_700_000_003L, 0));
    }

    @Override
    public NodeAttributes stat(String path) {
      return nodes.get(path);
    }

    @Override
    public List<String> list(String path) {
      NodeAttributes a = nodes.get(path);
      if (a == null || !a.directory()) {
        return null;
      }
      List<String> out = new ArrayList<>();
      String prefix = path.equals("/") ? "/" : path + "/";
      for (String p : nodes.keySet()) {
        if (p.startsWith(prefix) && p.length() > prefix.length() && p.indexOf('/', prefix.length()) < 0) {
          out.add(p.substring(prefix.length()));
        }
      }
      return out;
    }

    @Override
    public FileReader open(String path) throws IOException {
      if (!path.equals("/a/f")) {
        throw new NoSuchFileException(path);
      }
      open.incrementAndGet();
      return new FileReader() {
        @Override
        public int read(long offset, ByteBuffer dst) {
          int n = (int) Math.max(0, Math.min(dst.remaining(), f.length - offset));
          dst.put(f, (int) offset, n);
          return n;
        }

        @Override
        public void close() {
          open.decrementAndGet();
        }
      };
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return path.equals("/a/f") ? Map.of("user.b", "vv".getBytes(StandardCharsets.UTF_8), "user.a", new byte[] {1})
          : Map.of();
    }

    @Override
    public long totalBytes() {
      return 5;
    }
  }

  final Tree tree = new Tree();
  final NodeTable nodes = NodeTable.of(tree);
  final List<String> ops = new ArrayList<>();
  final KernelFs fs = new KernelFs(tree, nodes, new CallWrapper((op, nanos, r) -> ops.add(op + "=" + r),
      Duration.ofSeconds(10)), InitConfig.defaults(), OpenHook.DAEMON_PATH);

  static byte[] request(int opcode, long nodeid, byte[] arg) {
    return new Le().u32(40 + arg.length).u32(opcode).u64(UNIQUE).u64(nodeid).u32(1000).u32(100).u32(4242)
        .u16(0).u16(0).bytes(arg).get();
  }

  byte[] call(int opcode, long nodeid, byte[] arg) {
    byte[] req = request(opcode, nodeid, arg);
    byte[] reply = new byte[64 * 1024];
    int n = fs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    return Arrays.copyOf(reply, n);
  }

  static Le ok(int payload) {
    return new Le().u32(16 + payload).u32(0).u64(UNIQUE);
  }

  static byte[] error(int errno) {
    return new Le().u32(16).u32(-errno).u64(UNIQUE).get();
  }

  static Le attr(long ino, long size, long sec, int nsec, int mode, int nlink, int uid, int gid) {
    return new Le().u64(ino).u64(size).u64((size + 511) / 512).u64(sec).u64(sec).u64(sec)
        .u32(nsec).u32(nsec).u32(nsec).u32(mode).u32(nlink).u32(uid).u32(gid).u32(0).u32(4096).u32(0);
  }

  static String hex(byte[] b) {
    return HexFormat.of().formatHex(b);
  }

  @Test
  void everyOpcodeOfTheAbiHasAMetricName() throws IllegalAccessException {
    for (java.lang.reflect.Field f : FuseAbi.class.getFields()) {
      String n = f.getName();
      if (f.getType() == int.class && java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getInt(null) > 0
          && f.getInt(null) < 64 && n.equals(n.toUpperCase()) && !n.startsWith("FOPEN") && !n.startsWith("DT_")
          && !n.startsWith("NOTIFY") && !n.equals("KERNEL_VERSION") && !n.equals("OUR_MINOR")) {
        assertFalse(Opcodes.name(f.getInt(null)).startsWith("opcode-"), n + " has a name");
      }
    }
    assertEquals("ioctl", Opcodes.name(FuseAbi.IOCTL));
    assertEquals("opcode-99", Opcodes.name(99));
  }

  @Test
  void structSizesAreThoseOfFuseH() {
    assertEquals(40, FuseAbi.IN_HEADER.byteSize());
    assertEquals(16, FuseAbi.OUT_HEADER.byteSize());
    assertEquals(88, FuseAbi.ATTR.byteSize());
    assertEquals(128, FuseAbi.ENTRY_OUT.byteSize());
    assertEquals(104, FuseAbi.ATTR_OUT.byteSize());
    assertEquals(16, FuseAbi.OPEN_OUT.byteSize());
    assertEquals(40, FuseAbi.READ_IN.byteSize());
    assertEquals(24, FuseAbi.RELEASE_IN.byteSize());
    assertEquals(64, FuseAbi.INIT_IN.byteSize());
    assertEquals(64, FuseAbi.INIT_OUT.byteSize());
    assertEquals(80, FuseAbi.KSTATFS.byteSize());
    assertEquals(24, FuseAbi.DIRENT.byteSize());
    assertEquals(152, FuseAbi.DIRENTPLUS.byteSize());
    assertEquals(ByteOrder.LITTLE_ENDIAN, ByteOrder.nativeOrder(), "the codec writes the kernel's (native) order");
  }

  @Test
  void nodeIdsAreTheSortedPathsOfTheTreeAndStable() {
    assertEquals(List.of("/", "/a", "/a/f", "/z"), List.of(nodes.path(1), nodes.path(2), nodes.path(3), nodes.path(4)));
    assertEquals(3, nodes.id("/a/f"));
    assertEquals(0, nodes.id("/nope"));
    assertEquals(2, nodes.parent(3));
    assertEquals(1, nodes.parent(1));
    assertEquals(null, nodes.path(5));
    NodeTable again = NodeTable.of(List.of("/z", "/a/f", "/a"));
    for (long id = 1; id <= 4; id++) {
      assertEquals(nodes.path(id), again.path(id));
    }
  }

  static byte[] initIn(int minor, long flags, long flags2) {
    return new Le().u32(7).u32(minor).u32(131072).u32(flags).u32(flags2).zeros(44).get();
  }

  @Test
  void initTakesOneMiBRequestsAsyncReadsParallelDiropsReaddirplusButNotPassthroughUnasked() {
    byte[] reply = call(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL));
    assertEquals("50000000" + "00000000" + "0807060504030201" // header: 80 bytes, ok, unique
        + "07000000" + "28000000" + "00000200" + "01204440" // 7.40, readahead 128 KiB, flags
        + "1000" + "0c00" + "00000100" + "01000000" // max_background 16, congestion 12, max_write 64 KiB, time_gran 1
        + "0001" + "0000" + "00000000" + "00000000" + "0000" // max_pages 256, map_alignment, flags2, stack depth, timeout
        + "00".repeat(22), hex(reply));
    Negotiated n = fs.negotiated().getNow(null);
    assertTrue(n.passthroughOffered());
    assertFalse(n.passthrough());
    assertEquals(1024 * 1024, n.maxReadBytes());
    assertEquals("FUSE kernel protocol 7.45, answered 7.40: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, passthrough offered, not asked, request timeout offered, not asked", n.describe());
  }

  @Test
  void initAsksForPassthroughOnlyWhenConfiguredAndOffered() {
    KernelFs pt = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withPassthrough(true), OpenHook.DAEMON_PATH);
    byte[] req = request(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL));
    byte[] reply = new byte[256];
    pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("20000000" + "01000000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 40))); // flags2, stack depth 1
    assertTrue(pt.negotiated().getNow(null).passthrough());
    KernelFs old = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withPassthrough(true), OpenHook.DAEMON_PATH);
    req = request(FuseAbi.INIT, 0, initIn(38, 0x73fffffbL & ~FuseAbi.INIT_EXT, 0));
    old.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("00000000" + "00000000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 40)));
    assertEquals("FUSE kernel protocol 7.38, answered 7.38: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, no passthrough (not offered), no request timeout (not offered)",
        old.negotiated().getNow(null).describe());
  }

  @Test
  void initAsksForTheRequestTimeoutWhereTheKernelOffersIt() {
    KernelFs t = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withRequestTimeoutSeconds(360), OpenHook.DAEMON_PATH);
    byte[] req = request(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL)); // flags2 bit 10: FUSE_REQUEST_TIMEOUT
    byte[] reply = new byte[256];
    int n = t.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("50000000" + "00000000" + "0807060504030201"
        + "07000000" + "28000000" + "00000200" + "01204440"
        + "1000" + "0c00" + "00000100" + "01000000"
        + "0001" + "0000" + "00040000" + "00000000" + "6801" // flags2 0x400, stack depth 0, request_timeout 360
        + "00".repeat(22), hex(Arrays.copyOf(reply, n)));
    Negotiated got = t.negotiated().getNow(null);
    assertEquals(360, got.requestTimeoutSeconds());
    assertEquals("FUSE kernel protocol 7.45, answered 7.40: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, passthrough offered, not asked, request timeout 360 s", got.describe());
    // A 6.12 kernel (7.41) does not offer it: neither the flag nor the field is set.
    KernelFs old = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withRequestTimeoutSeconds(360), OpenHook.DAEMON_PATH);
    req = request(FuseAbi.INIT, 0, initIn(41, 0x73fffffbL, 0x1fdL));
    old.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("00000000" + "00000000" + "0000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 42)));
    assertTrue(old.negotiated().getNow(null).describe().endsWith("no request timeout (not offered)"));
  }

  @Test
  void fileHandlesCarryTheServersEpochAndAnEarlierServersReleaseReachesTheHook() {
    List<OpenReply> released = new ArrayList<>();
    KernelFs second = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public void released(OpenReply reply) {
            released.add(reply);
          }
        });
    second.handleEpoch(2);
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    byte[] reply = new byte[64];
    int n = second.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    long fh = (3L << 32) | (2L << 24) | 1; // never the first server's (3 << 32 | 1)
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_KEEP_CACHE).u32(0).get()), hex(Arrays.copyOf(reply, n)));
    long earlier = (3L << 32) | 1;
    req = request(FuseAbi.RELEASE, 3, new Le().u64(earlier).u32(0).u32(0).u64(0).get());
    second.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(new OpenReply(earlier, 0, 0)), released);
  }

  @Test
  void lookupAnswersAnEntryOrACachedMiss() {
    byte[] hit = call(FuseAbi.LOOKUP, 2, new Le().cstr("f").get());
    assertEquals(hex(ok(128).u64(3).u64(0).u64(3600).u64(3600).u32(0).u32(0)
        .bytes(attr(3, 5, 1_700_000_002L, 7, 0100440, 1, 1000, 100).get()).get()), hex(hit));
    byte[] miss = call(FuseAbi.LOOKUP, 1, new Le().cstr("nope").get());
    assertEquals(hex(ok(128).u64(0).u64(0).u64(3600).u64(0).zeros(8 + 88).get()), hex(miss));
    assertEquals(hex(error(2)), hex(call(FuseAbi.LOOKUP, 99, new Le().cstr("x").get())));
  }

  @Test
  void getattrOfADirectoryAndOfAMissingNode() {
    assertEquals(hex(ok(104).u64(3600).u32(0).u32(0).bytes(attr(2, 0, 1_700_000_001L, 5, 040750, 2, 0, 0).get()).get()),
        hex(call(FuseAbi.GETATTR, 2, new Le().u32(0).u32(0).u64(0).get())));
    assertEquals(hex(error(2)), hex(call(FuseAbi.GETATTR, 42, new Le().zeros(16).get())));
  }

  static byte[] readIn(long fh, long offset, int size) {
    return new Le().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).get();
  }

  @Test
  void openReadReleaseWithHandlesDerivedFromTheNode() {
    byte[] open = call(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    long fh = (3L << 32) | 1;
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_KEEP_CACHE).u32(0).get()), hex(open));
    assertEquals(1, tree.open.get());
    assertEquals(hex(ok(3).bytes("llo".getBytes(StandardCharsets.UTF_8)).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 2, 4096))));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 5, 4096))));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.RELEASE, 3, new Le().u64(fh).u32(0).u32(0).u64(0).get())));
    assertEquals(0, tree.open.get());
    assertTrue(ops.containsAll(List.of("open=0", "read=3", "read=0", "release=0")), ops.toString());
  }

  @Test
  void aReadOnALendingReaderIsAnsweredFromTheLoanWhichIsGivenBackOnce() throws Exception {
    List<String> lent = new ArrayList<>();
    java.util.concurrent.atomic.AtomicInteger closed = new java.util.concurrent.atomic.AtomicInteger();
    Tree lending = new Tree() {
      @Override
      public FileReader open(String path) throws IOException {
        FileReader plain = super.open(path);
        return new FileReader() {
          @Override
          public int read(long offset, ByteBuffer dst) throws IOException {
            return plain.read(offset, dst);
          }

          @Override
          public io.modelcache.fuse.Loan lend(long offset, int len) {
            lent.add(offset + "+" + len);
            if (offset >= 4) {
              return null; // does not hold these bytes: read() serves them
            }
            int n = (int) Math.min(len, 5 - offset);
            // two parts, as a read across two chunks has: "he" and "llo" for offset 0
            ByteBuffer a = ByteBuffer.allocateDirect(2).put(tree.f, (int) offset, Math.min(2, n)).flip();
            ByteBuffer b = ByteBuffer.allocateDirect(5).put(tree.f, (int) offset + a.limit(), n - a.limit()).flip();
            return new io.modelcache.fuse.Loan() {
              @Override
              public ByteBuffer[] parts() {
                return new ByteBuffer[] {a, b};
              }

              @Override
              public int length() {
                return n;
              }

              @Override
              public void close() {
                closed.incrementAndGet();
              }
            };
          }

          @Override
          public void close() {
            plain.close();
          }
        };
      }
    };
    KernelFs lfs = new KernelFs(lending, NodeTable.of(lending), new CallWrapper((op, nanos, r) -> { },
        Duration.ofSeconds(10)), InitConfig.defaults(), OpenHook.DAEMON_PATH);
    long fh = (3L << 32) | 1;
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    lfs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(new byte[4096]));
    ReplyData data = new ReplyData();
    try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
      MemorySegment reply = arena.allocate(64 * 1024, 8);
      req = request(FuseAbi.READ, 3, readIn(fh, 0, 4096));
      int n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(16 + 5, n); // header plus the loan, of which only the header is in the buffer
      assertEquals(hex(ok(5).get()), hex(reply.asSlice(0, 16).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      assertEquals(0, closed.get());
      // sent: one writev of header and both parts, here into a pipe, then the loan goes back
      int[] fds = new int[2];
      assertEquals(0, io.modelcache.fuse.kernel.sys.Sys.pipe2(fds, 0));
      try {
        assertEquals(16 + 5, data.send(fds[1], reply, n));
        assertEquals(1, closed.get());
        MemorySegment got = arena.allocate(64);
        assertEquals(16 + 5, io.modelcache.fuse.kernel.sys.Sys.read(fds[0], got, 64));
        assertEquals(hex(ok(5).bytes(tree.f).get()), hex(got.asSlice(0, 21).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      } finally {
        io.modelcache.fuse.kernel.sys.Sys.close(fds[0]);
        io.modelcache.fuse.kernel.sys.Sys.close(fds[1]);
      }
      // a loan not sent (the session is leaving) is given back by clear, once
      n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(16 + 5, n);
      data.clear();
      data.clear();
      assertEquals(2, closed.get());
      // the reader declines (offset 4): the bytes come through read, nothing is lent
      req = request(FuseAbi.READ, 3, readIn(fh, 4, 4096));
      n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(hex(ok(1).bytes("o".getBytes(StandardCharsets.UTF_8)).get()), hex(reply.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      assertEquals(null, data.loan());
      // a caller without a slot for reply data (the three-argument handle) never asks for a loan
      lent.clear();
      req = request(FuseAbi.READ, 3, readIn(fh, 0, 4096));
      byte[] plainReply = new byte[4096];
      n = lfs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(plainReply));
      assertEquals(hex(ok(5).bytes(tree.f).get()), hex(Arrays.copyOf(plainReply, n)));
      assertEquals(List.of(), lent);
    }
    assertEquals(2, closed.get());
  }

  @Test
  void aLoanWithHeapPartsIsCopiedBehindTheHeader() {
    MemorySegment reply = MemorySegment.ofArray(new byte[64]);
    ReplyData.copyInto(reply, new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1, 2}), ByteBuffer.wrap(new byte[] {3})});
    assertEquals("010203", hex(reply.asSlice(16, 3).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
  }

  @Test
  void aReadOnAHandleOfAnEarlierServerOpensTheNodeItNames() {
    long fh = (3L << 32) | 77; // given out by a server before a takeover
    assertEquals(hex(ok(5).bytes(tree.f).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 0, 1 << 20))));
    assertEquals(1, fs.openHandles());
    assertEquals(hex(error(9)), hex(call(FuseAbi.READ, 4, readIn(fh + 1, 0, 10)))); // not a handle of that node
    fs.closeAll();
    assertEquals(0, tree.open.get());
  }

  @Test
  void openForWritingIsReadOnlyAndDirectoriesAreNotFiles() {
    assertEquals(hex(error(30)), hex(call(FuseAbi.OPEN, 3, new Le().u32(1).u32(0).get())));
    assertEquals(hex(error(30)), hex(call(FuseAbi.OPEN, 3, new Le().u32(2).u32(0).get())));
    assertEquals(hex(error(21)), hex(call(FuseAbi.OPEN, 2, new Le().u32(0).u32(0).get())));
    assertEquals(hex(error(20)), hex(call(FuseAbi.OPENDIR, 3, new Le().u32(0).u32(0).get())));
    assertEquals(hex(ok(16).u64(2).u32(0).u32(0).get()), hex(call(FuseAbi.OPENDIR, 2, new Le().u32(0).u32(0).get())));
  }

  static Le dirent(long ino, long off, String name, int type) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    Le e = new Le().u64(ino).u64(off).u32(n.length).u32(type).bytes(n);
    return e.zeros((8 - (24 + n.length) % 8) % 8);
  }

  @Test
  void readdirListsDotsThenNamesAndResumesAtAnOffset() {
    byte[] all = call(FuseAbi.READDIR, 1, readIn(1, 0, 4096));
    byte[] want = new Le().bytes(dirent(1, 1, ".", 4).get()).bytes(dirent(1, 2, "..", 4).get())
        .bytes(dirent(2, 3, "a", 4).get()).bytes(dirent(4, 4, "z", 8).get()).get();
    assertEquals(hex(ok(want.length).bytes(want).get()), hex(all));
    byte[] rest = call(FuseAbi.READDIR, 1, readIn(1, 3, 4096));
    assertEquals(hex(ok(32).bytes(dirent(4, 4, "z", 8).get()).get()), hex(rest));
    byte[] small = call(FuseAbi.READDIR, 1, readIn(1, 0, 60)); // room for two entries of 32 bytes? no: 32 + 32 > 60
    assertEquals(hex(ok(32).bytes(dirent(1, 1, ".", 4).get()).get()), hex(small));
  }

  @Test
  void readdirplusCarriesEntriesExceptForDots() {
    byte[] r = call(FuseAbi.READDIRPLUS, 2, readIn(2, 0, 4096));
    Le want = new Le().zeros(128).bytes(dirent(2, 1, ".", 4).get())
        .zeros(128).bytes(dirent(1, 2, "..", 4).get())
        .u64(3).u64(0).u64(3600).u64(3600).u32(0).u32(0).bytes(attr(3, 5, 1_700_000_002L, 7, 0100440, 1, 1000, 100).get())
        .bytes(dirent(3, 3, "f", 8).get());
    byte[] w = want.get();
    assertEquals(hex(ok(w.length).bytes(w).get()), hex(r));
  }

  @Test
  void statfsReportsBlocksOfTheTotalAndNothingFree() {
    assertEquals(hex(ok(80).u64(1).u64(0).u64(0).u64(0).u64(0).u32(4096).u32(255).u32(4096).u32(0).zeros(24).get()),
        hex(call(FuseAbi.STATFS, 1, new byte[0])));
  }

  @Test
  void xattrsProbeSizeThenValueAndSayErangeOrEnodata() {
    byte[] name = new Le().cstr("user.b").get();
    assertEquals(hex(ok(8).u32(2).u32(0).get()), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(0).u32(0).bytes(name).get())));
    assertEquals(hex(error(34)), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(1).u32(0).bytes(name).get())));
    assertEquals(hex(ok(2).bytes("vv".getBytes(StandardCharsets.UTF_8)).get()),
        hex(call(FuseAbi.GETXATTR, 3, new Le().u32(64).u32(0).bytes(name).get())));
    assertEquals(hex(error(61)), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(64).u32(0).cstr("user.x").get())));
    assertEquals(hex(ok(8).u32(14).u32(0).get()), hex(call(FuseAbi.LISTXATTR, 3, new Le().u32(0).u32(0).get())));
    assertEquals(hex(ok(14).cstr("user.a").cstr("user.b").get()), hex(call(FuseAbi.LISTXATTR, 3, new Le().u32(100).u32(0).get())));
    assertEquals(hex(ok(8).u32(0).u32(0).get()), hex(call(FuseAbi.LISTXATTR, 1, new Le().u32(0).u32(0).get())));
  }

  @Test
  void writesAreReadOnlyUnknownOpcodesEnosysForgetsTakeNoReply() {
    for (int op : new int[] {FuseAbi.SETATTR, FuseAbi.MKDIR, FuseAbi.UNLINK, FuseAbi.RENAME, FuseAbi.WRITE,
        FuseAbi.SETXATTR, FuseAbi.CREATE, FuseAbi.RENAME2, FuseAbi.TMPFILE}) {
      assertEquals(hex(error(30)), hex(call(op, 1, new byte[64])), "opcode " + op);
    }
    assertEquals(hex(error(38)), hex(call(39, 1, new byte[32]))); // IOCTL
    assertEquals(hex(error(38)), hex(call(999, 1, new byte[0])));
    assertEquals("", hex(call(FuseAbi.FORGET, 3, new Le().u64(1).get())));
    assertEquals("", hex(call(FuseAbi.BATCH_FORGET, 0, new Le().u32(1).u32(0).u64(3).u64(1).get())));
    assertEquals("", hex(call(FuseAbi.INTERRUPT, 0, new Le().u64(5).get())));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.FLUSH, 3, new byte[24])));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.ACCESS, 3, new Le().u32(4).u32(0).get())));
    assertEquals(hex(error(2)), hex(call(FuseAbi.ACCESS, 9, new Le().u32(4).u32(0).get())));
    assertTrue(ops.containsAll(List.of("forget=0", "batch_forget=0", "interrupt=0", "opcode-999=-38")), ops.toString());
  }

  @Test
  void aRequestWhoseLengthDisagreesGetsEioAndAThrowingTreeGetsEio() {
    byte[] req = request(FuseAbi.GETATTR, 1, new byte[16]);
    byte[] reply = new byte[64];
    int n = fs.handle(MemorySegment.ofArray(req), req.length - 4, MemorySegment.ofArray(reply));
    assertEquals(hex(error(5)), hex(Arrays.copyOf(reply, n)));
    KernelFs broken = new KernelFs(new Tree() {
      @Override
      public NodeAttributes stat(String path) {
        throw new IllegalStateException("bug");
      }
    }, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(), OpenHook.DAEMON_PATH);
    n = broken.handle(MemorySegment.ofArray(request(FuseAbi.GETATTR, 1, new byte[16])), 56, MemorySegment.ofArray(reply));
    assertEquals(hex(error(5)), hex(Arrays.copyOf(reply, n)));
  }

  @Test
  void anOpenHookMayAnswerPassthroughAndHearsTheRelease() {
    List<OpenReply> released = new ArrayList<>();
    KernelFs pt = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
            return new OpenReply(daemonPath.fh(), FuseAbi.FOPEN_PASSTHROUGH, 7);
          }

          @Override
          public void released(OpenReply reply) {
            released.add(reply);
          }
        });
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    byte[] reply = new byte[64];
    int n = pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    long fh = (3L << 32) | 1;
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_PASSTHROUGH).u32(7).get()), hex(Arrays.copyOf(reply, n)));
    req = request(FuseAbi.RELEASE, 3, new Le().u64(fh).u32(0).u32(0).u64(0).get());
    pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(new OpenReply(fh, FuseAbi.FOPEN_PASSTHROUGH, 7)), released);
    assertEquals(0, tree.open.get());
  }

  /**
   * An OPEN resent after FUSE_NOTIFY_RESEND (its unique flagged) asks the hook for the reply an
   * earlier server recorded, with the original unique, and is answered under the flagged unique the
   * kernel waits for; a first OPEN passes its unique to the hook to be recorded.
   */
  @Test
  void aResentOpenGetsTheRecordedReplyAndAFirstOpenPassesItsUniqueToBeRecorded() {
    List<Long> asked = new ArrayList<>();
    List<Long> recorded = new ArrayList<>();
    long earlierFh = (3L << 32) | (1L << 24) | 9;
    KernelFs fs2 = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public java.util.Optional<OpenReply> resent(long unique, String path, ReadOnlyTree.FileReader reader) {
            asked.add(unique);
            return java.util.Optional.of(new OpenReply(earlierFh, FuseAbi.FOPEN_PASSTHROUGH, 7));
          }

          @Override
          public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
            recorded.add(unique);
            return daemonPath;
          }
        });
    fs2.handleEpoch(2);
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    long resent = UNIQUE | FuseAbi.UNIQUE_RESEND;
    byte[] flagged = java.nio.ByteBuffer.wrap(req.clone()).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(8, resent).array();
    byte[] reply = new byte[64];
    int n = fs2.handle(MemorySegment.ofArray(flagged), flagged.length, MemorySegment.ofArray(reply));
    assertEquals(hex(new Le().u32(32).u32(0).u64(resent).u64(earlierFh).u32(FuseAbi.FOPEN_PASSTHROUGH).u32(7).get()),
        hex(Arrays.copyOf(reply, n)), "the recorded reply, under the unique the kernel waits for");
    assertEquals(List.of(UNIQUE), asked, "asked with the original unique");
    assertEquals(List.of(), recorded);
    n = fs2.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(UNIQUE), recorded, "a first open is recorded with its unique");
    assertEquals(List.of(UNIQUE), asked, "a first open is never looked up");
  }
}
