package io.modelcache.fuse.kernel;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
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

/**
 * What the codec tests share: a small tree, a KernelFs over it that records each call's outcome, and
 * requests and replies built field by field in fuse.h order (independent of the layouts).
 */
abstract class KernelFsFixture {
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

  static byte[] initIn(int minor, long flags, long flags2) {
    return new Le().u32(7).u32(minor).u32(131072).u32(flags).u32(flags2).zeros(44).get();
  }

  static byte[] readIn(long fh, long offset, int size) {
    return new Le().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).get();
  }

  static Le dirent(long ino, long off, String name, int type) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    Le e = new Le().u64(ino).u64(off).u32(n.length).u32(type).bytes(n);
    return e.zeros((8 - (24 + n.length) % 8) % 8);
  }
}
