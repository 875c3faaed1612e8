package io.modelcache.fuse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/** An in-memory {@link ReadOnlyTree} for tests: nested dirs, files of deterministic bytes, xattrs. */
final class MemoryTree implements ReadOnlyTree {
  /** Supplies the bytes of a file; lets tests build huge or failing files. */
  interface Content {
    int read(long offset, ByteBuffer dst) throws IOException;
  }

  record Node(NodeAttributes attrs, byte[] bytes, Content content, Map<String, byte[]> xattrs) {}

  final Map<String, Node> nodes = new ConcurrentHashMap<>();

  MemoryTree() {
    nodes.put("/", new Node(NodeAttributes.directory(0755, 1_700_000_000L), null, null, Map.of()));
  }

  MemoryTree dir(String path, int mode, long mtime) {
    nodes.put(path, new Node(new NodeAttributes(true, 0, mode, 0, 0, mtime, 0), null, null, Map.of()));
    return this;
  }

  MemoryTree file(String path, byte[] bytes, int mode, long mtime, int nanos) {
    Map<String, byte[]> x = Map.of("user.modelcache.digest",
        ("sha256:" + FuseTestSupport.sha256(bytes)).getBytes(StandardCharsets.UTF_8));
    Content c = (offset, dst) -> {
      if (offset >= bytes.length) {
        return 0;
      }
      int n = (int) Math.min(dst.remaining(), bytes.length - offset);
      dst.put(bytes, (int) offset, n);
      return n;
    };
    nodes.put(path, new Node(new NodeAttributes(false, bytes.length, mode, 0, 0, mtime, nanos), bytes, c, x));
    return this;
  }

  MemoryTree file(String path, long size, Content content) {
    nodes.put(path, new Node(new NodeAttributes(false, size, 0444, 0, 0, 1_700_000_000L, 0), null,
        content, Map.of()));
    return this;
  }

  static byte[] randomBytes(long seed, int size) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** The standard fixture: nested dirs, a few files of a few MB, custom modes and mtimes. */
  static MemoryTree sample() {
    return new MemoryTree()
        .dir("/models", 0755, 1_700_000_100L)
        .dir("/models/llama", 0750, 1_700_000_200L)
        .dir("/empty", 0700, 1_700_000_300L)
        .file("/README.md", "hello model\n".getBytes(StandardCharsets.UTF_8), 0644, 1_700_000_400L, 123_456_789)
        .file("/models/config.json", randomBytes(1, 4097), 0444, 1_700_000_500L, 0)
        .file("/models/llama/model-00001.safetensors", randomBytes(2, 3 * 1024 * 1024 + 17), 0440,
            1_700_000_600L, 999_999_999)
        .file("/models/llama/model-00002.safetensors", randomBytes(3, 5 * 1024 * 1024), 0400,
            1_700_000_700L, 1)
        .file("/zero", new byte[0], 0644, 1_700_000_800L, 0);
  }

  @Override
  public NodeAttributes stat(String path) {
    Node n = nodes.get(path);
    return n == null ? null : n.attrs();
  }

  @Override
  public List<String> list(String path) {
    Node n = nodes.get(path);
    if (n == null || !n.attrs().directory()) {
      return null;
    }
    String prefix = path.equals("/") ? "/" : path + "/";
    List<String> out = new ArrayList<>();
    for (String p : new TreeMap<>(nodes).keySet()) {
      if (p.startsWith(prefix) && p.length() > prefix.length() && p.indexOf('/', prefix.length()) < 0) {
        out.add(p.substring(prefix.length()));
      }
    }
    return out;
  }

  @Override
  public FileReader open(String path) throws IOException {
    Node n = nodes.get(path);
    if (n == null || n.attrs().directory()) {
      throw new NoSuchFileException(path);
    }
    return n.content()::read;
  }

  @Override
  public Map<String, byte[]> xattrs(String path) {
    Node n = nodes.get(path);
    return n == null ? Map.of() : n.xattrs();
  }

  @Override
  public long totalBytes() {
    return nodes.values().stream().mapToLong(n -> n.attrs().size()).sum();
  }
}
