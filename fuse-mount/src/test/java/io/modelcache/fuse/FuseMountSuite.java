package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Instant;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a mount must do for its users, run once per transport (the way Netty reruns its testsuite
 * per transport): {@link FuseMountKernelIT} and {@link FuseMountJnrIT}. Real mounts read by the
 * kernel: exact bytes of every file, mmap in another process, unaligned and concurrent preads,
 * listings with modes and mtimes, xattrs, statfs, EROFS, EIO from a failing reader, unmount with
 * and without open files, and another user reading through allow_other.
 */
abstract class FuseMountSuite {
  /** The transport under test. */
  abstract FuseTransport transport();

  /** The largest read request this transport receives (max_pages or libfuse2's cap). */
  abstract int maxRequestBytes();

  @TempDir Path tmp;
  Path mp;
  MemoryTree tree;
  Mounted mounted;
  final Map<String, LongAdder> heard = new ConcurrentHashMap<>();
  final java.util.concurrent.atomic.AtomicInteger largestRead = new java.util.concurrent.atomic.AtomicInteger();

  @BeforeEach
  void mount() throws IOException {
    FuseTestSupport.assumeFuse();
    mp = Files.createDirectory(tmp.resolve("mnt")).toRealPath();
    tree = MemoryTree.sample()
        .file("/broken", 1000, (offset, dst) -> {
          throw new IOException("simulated backend failure");
        });
    FuseOptions options = FuseOptions.defaults()
        .withFsName("modelcache-test")
        .withListener((op, nanos, result) -> {
          heard.computeIfAbsent(op, k -> new LongAdder()).increment();
          if (op.equals("read")) {
            largestRead.accumulateAndGet(result, Math::max);
          }
        });
    mounted = transport().mount(mp, tree, options);
  }

  @AfterEach
  void unmount() {
    if (mounted != null) {
      mounted.close();
    }
  }

  private Path at(String treePath) {
    return mp.resolve(treePath.substring(1));
  }

  @Test
  void listingMatchesTree() throws IOException {
    Map<String, String> expected = new TreeMap<>();
    tree.nodes.forEach((p, n) -> expected.put(p, describe(n.attrs())));
    Map<String, String> actual = new TreeMap<>();
    try (Stream<Path> s = Files.walk(mp)) {
      for (Path p : s.toList()) {
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class);
        String rel = "/" + mp.relativize(p).toString();
        Instant m = a.lastModifiedTime().toInstant();
        actual.put(rel.equals("/") ? "/" : rel, (a.isDirectory() ? "d" : "-")
            + PosixFilePermissions.toString(a.permissions()) + " "
            + (a.isDirectory() ? 0 : a.size()) + " " + m.getEpochSecond() + "." + m.getNano());
      }
    }
    assertEquals(expected, actual);
    assertTrue(FuseMount.isMountPoint(mp));
    assertEquals(1024, FuseMount.readAheadKb(mp));
    String line = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
        .filter(l -> l.contains(" " + mp + " ")).findFirst().orElseThrow();
    assertTrue(line.contains(" - fuse.modelcache modelcache-test ro,"), line);
  }

  private static String describe(NodeAttributes a) {
    StringBuilder perms = new StringBuilder();
    String rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) {
      perms.append((a.mode() & (1 << (8 - i))) != 0 ? rwx.charAt(i) : '-');
    }
    return (a.directory() ? "d" : "-") + perms + " " + a.size() + " " + a.mtimeEpochSecond()
        + "." + a.mtimeNanos();
  }

  @Test
  void bytesThroughTheMountHaveTheSourceSha256() throws IOException {
    int files = 0;
    for (var e : tree.nodes.entrySet()) {
      if (e.getValue().bytes() != null) {
        assertEquals(FuseTestSupport.sha256(e.getValue().bytes()),
            FuseTestSupport.sha256(Files.readAllBytes(at(e.getKey()))), e.getKey());
        files++;
      }
    }
    assertEquals(5, files);
  }

  @Test
  void mmapInAnotherProcessReadsTheSourceBytes() throws Exception {
    String p = "/models/llama/model-00001.safetensors";
    Process child = ChildJvm.start(ChildJvm.MmapSha256.class, at(p).toString());
    boolean done = child.waitFor(60, TimeUnit.SECONDS);
    if (!done) {
      child.destroyForcibly();
    }
    assertTrue(done, "the mmap child did not finish in 60 s");
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertEquals(0, child.exitValue());
    assertEquals(FuseTestSupport.sha256(tree.nodes.get(p).bytes()), out);
  }

  @Test
  void sequentialReadsArriveInRequestsOfTheTransportsSize() throws IOException {
    String p = "/models/llama/model-00002.safetensors";
    assertEquals(FuseTestSupport.sha256(tree.nodes.get(p).bytes()), FuseTestSupport.sha256(Files.readAllBytes(at(p))));
    assertEquals(maxRequestBytes(), largestRead.get());
  }

  @Test
  void anotherUserReadsThroughAllowOther() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv (util-linux) is needed");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x")); // she may pass through
    Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "sha256sum", at("/README.md").toString(), at("/models/config.json").toString()).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    assertEquals(FuseTestSupport.sha256(tree.nodes.get("/README.md").bytes()) + "  " + at("/README.md") + "\n"
        + FuseTestSupport.sha256(tree.nodes.get("/models/config.json").bytes()) + "  " + at("/models/config.json") + "\n", out);
  }

  @Test
  void randomUnalignedPreadsMatch() throws IOException {
    String p = "/models/llama/model-00002.safetensors";
    byte[] src = tree.nodes.get(p).bytes();
    Random r = new Random(42);
    try (FileChannel ch = FileChannel.open(at(p), StandardOpenOption.READ)) {
      for (int i = 0; i < 200; i++) {
        long off = r.nextInt(src.length + 100);
        int len = 1 + r.nextInt(400_000);
        ByteBuffer bb = ByteBuffer.allocate(len);
        int total = 0;
        while (bb.hasRemaining()) {
          int n = ch.read(bb, off + total);
          if (n < 0) {
            break;
          }
          total += n;
        }
        int expect = (int) Math.max(0, Math.min(len, src.length - off));
        assertEquals(expect, total, "length at " + off);
        byte[] want = new byte[expect];
        System.arraycopy(src, (int) Math.min(off, src.length), want, 0, expect);
        byte[] got = new byte[total];
        bb.flip().get(got);
        assertArrayEquals(want, got, "bytes at " + off + "+" + len);
      }
    }
  }

  @Test
  void concurrentPreadsFromFourThreadsMatch() throws Exception {
    String p = "/models/llama/model-00002.safetensors";
    byte[] src = tree.nodes.get(p).bytes();
    try (FileChannel ch = FileChannel.open(at(p), StandardOpenOption.READ);
        var pool = java.util.concurrent.Executors.newFixedThreadPool(4)) {
      var futures = new java.util.ArrayList<java.util.concurrent.Future<Integer>>();
      for (int t = 0; t < 4; t++) {
        Random r = new Random(t);
        futures.add(pool.submit(() -> {
          int checked = 0;
          for (int i = 0; i < 50; i++) {
            int off = r.nextInt(src.length - 1);
            int len = Math.min(1 + r.nextInt(300_000), src.length - off);
            ByteBuffer bb = ByteBuffer.allocate(len);
            while (bb.hasRemaining() && ch.read(bb, off + bb.position()) > 0) {
              // keep reading
            }
            assertArrayEquals(java.util.Arrays.copyOfRange(src, off, off + len), bb.array());
            checked++;
          }
          return checked;
        }));
      }
      for (var f : futures) {
        assertEquals(50, f.get(60, TimeUnit.SECONDS));
      }
    }
  }

  @Test
  void mountingOnANonEmptyDirectoryFailsClearly() throws IOException {
    Path dir = Files.createDirectory(tmp.resolve("full")).toRealPath();
    Files.writeString(dir.resolve("x"), "x");
    IOException e = assertThrows(IOException.class, () -> transport().mount(dir, tree, FuseOptions.defaults()));
    assertEquals("cannot mount on " + dir + ": the directory is not empty", e.getMessage());
  }

  @Test
  void xattrsAreReadable() throws IOException, InterruptedException {
    String p = "/models/config.json";
    byte[] want = tree.nodes.get(p).xattrs().get("user.modelcache.digest");
    UserDefinedFileAttributeView v = Files.getFileAttributeView(at(p), UserDefinedFileAttributeView.class);
    assertEquals(java.util.List.of("modelcache.digest"), v.list());
    ByteBuffer bb = ByteBuffer.allocate(v.size("modelcache.digest"));
    v.read("modelcache.digest", bb);
    assertArrayEquals(want, bb.array());
    IOException missing = assertThrows(IOException.class,
        () -> v.read("nope", ByteBuffer.allocate(10)));
    assertTrue(String.valueOf(missing.getMessage()).contains("No data available"), missing.getMessage());
    Path getfattr = Path.of("/usr/bin/getfattr");
    if (Files.isExecutable(getfattr)) {
      Process proc = new ProcessBuilder(getfattr.toString(), "--only-values", "-n",
          "user.modelcache.digest", at(p).toString()).redirectErrorStream(true).start();
      byte[] out = proc.getInputStream().readAllBytes();
      assertEquals(0, proc.waitFor());
      assertArrayEquals(want, out);
    } else {
      System.err.println("getfattr not installed; checked xattrs through Java only");
    }
  }

  @Test
  void writesFailWithReadOnly() {
    IOException create = assertThrows(IOException.class,
        () -> Files.write(mp.resolve("new-file"), new byte[] {1}));
    assertTrue(create.getMessage().contains("Read-only file system"), create.getMessage());
    IOException overwrite = assertThrows(IOException.class,
        () -> Files.write(at("/README.md"), new byte[] {1}));
    assertTrue(overwrite.getMessage().contains("Read-only file system"), overwrite.getMessage());
    IOException mkdir = assertThrows(IOException.class, () -> Files.createDirectory(mp.resolve("d")));
    assertTrue(mkdir.getMessage().contains("Read-only file system"), mkdir.getMessage());
  }

  @Test
  void aThrowingReaderGivesEio() {
    IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(at("/broken")));
    assertEquals("Input/output error", e.getMessage());
  }

  @Test
  void statfsReportsTotalBytes() throws IOException {
    long total = Files.getFileStore(mp).getTotalSpace();
    long want = (tree.totalBytes() + 4095) / 4096 * 4096;
    assertEquals(want, total);
    assertEquals(0, Files.getFileStore(mp).getUsableSpace());
  }

  @Test
  void listenerAndCountsSeeCalls() throws IOException {
    Files.readAllBytes(at("/models/config.json"));
    assertTrue(heard.get("read").sum() >= 1, heard.toString());
    assertTrue(heard.get("open").sum() >= 1, heard.toString());
    assertEquals(heard.get("read").sum(), mounted.operationCounts().get("read"));
  }

  @Test
  void closeUnmountsAndIsIdempotent() throws IOException {
    Files.readAllBytes(at("/README.md"));
    mounted.close();
    assertFalse(FuseMount.isMountPoint(mp));
    try (Stream<Path> s = Files.list(mp)) {
      assertEquals(0, s.count());
    }
    mounted.close();
    assertFalse(mounted.isLive());
  }

  @Test
  void closeWithAnOpenFileDetaches() throws IOException {
    try (FileChannel ch = FileChannel.open(at("/README.md"), StandardOpenOption.READ)) {
      mounted.close();
      assertFalse(FuseMount.isMountPoint(mp));
    }
  }

  @Test
  void prepareMountsNothingAndLaterMountsWork() throws IOException {
    FuseMount.prepare();
    FuseMount.prepare();
    assertEquals(null, transport().unavailableReason());
    Path other = Files.createDirectory(tmp.resolve("other")).toRealPath();
    assertFalse(FuseMount.isMountPoint(other));
    try (Mounted m = transport().mount(other, MemoryTree.sample(), FuseOptions.defaults().withFsName("modelcache-test"))) {
      try (Stream<Path> s = Files.list(other)) {
        assertEquals(MemoryTree.sample().list("/").size(), s.count());
      }
    }
    assertFalse(FuseMount.isMountPoint(other));
  }

  @Test
  void mountingTwiceFailsClearly() {
    IOException e = assertThrows(IOException.class,
        () -> transport().mount(mp, tree, FuseOptions.defaults()));
    assertEquals("cannot mount on " + mp + ": something is already mounted there",
        e.getMessage());
  }
}
