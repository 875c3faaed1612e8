package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.kernel.InitConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FUSE passthrough on the kernel transport, on real mounts read by the kernel: a file whose tree
 * offers a backing file is opened with FOPEN_PASSTHROUGH and read (and mmapped) with no READ
 * reaching this process; a file opened while it had no backing is served here and the next open
 * after it got one is passthrough; one file is never in both modes at once (the kernel would fail
 * the second open with EIO); the backing is released at the last release; with passthrough off
 * everything is served here with exact bytes; a failing reader gives EIO and never passthrough.
 */
class PassthroughKernelIT {
  @TempDir Path tmp;
  Path mp;
  Mounted mounted;
  final AtomicReference<PassthroughHook> hook = new AtomicReference<>();
  final PassthroughHook.Stats stats = new PassthroughHook.Stats();
  final BackedTree tree = new BackedTree();
  byte[] shard;

  /** A tree of files kept on disk; a file offers its disk copy as backing once marked complete. */
  final class BackedTree implements ReadOnlyTree {
    final Map<String, Path> files = new ConcurrentHashMap<>();
    final Map<String, AtomicBoolean> complete = new ConcurrentHashMap<>();
    final LongAdder reads = new LongAdder();
    final AtomicInteger backingsOpen = new AtomicInteger();
    final AtomicInteger backingsHanded = new AtomicInteger();

    void add(String path, byte[] bytes, boolean done) throws IOException {
      Path f = tmp.resolve("backing" + path.replace('/', '_'));
      Files.write(f, bytes);
      files.put(path, f);
      complete.put(path, new AtomicBoolean(done));
    }

    @Override
    public NodeAttributes stat(String path) {
      if (path.equals("/")) {
        return NodeAttributes.directory(0755, 1_700_000_000L);
      }
      Path f = files.get(path);
      try {
        return f == null ? null : new NodeAttributes(false, Files.size(f), 0444, 0, 0, 1_700_000_000L, 0);
      } catch (IOException e) {
        return null;
      }
    }

    @Override
    public List<String> list(String path) {
      return path.equals("/") ? files.keySet().stream().map(p -> p.substring(1)).sorted().toList() : null;
    }

    @Override
    public FileReader open(String path) throws IOException {
      Path f = files.get(path);
      if (f == null) {
        throw new NoSuchFileException(path);
      }
      AtomicBoolean done = complete.get(path);
      boolean broken = path.startsWith("/broken");
      return new FileReader() {
        @Override
        public int read(long offset, ByteBuffer dst) throws IOException {
          reads.increment();
          if (broken) {
            throw new IOException("blob failed verification");
          }
          try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            int n = ch.read(dst, offset);
            return Math.max(n, 0);
          }
        }

        @Override
        public Optional<BackingFile> backing() {
          if (!done.get() || broken) {
            return Optional.empty();
          }
          backingsOpen.incrementAndGet();
          backingsHanded.incrementAndGet();
          AtomicBoolean closed = new AtomicBoolean();
          long len;
          try {
            len = Files.size(f);
          } catch (IOException e) {
            return Optional.empty();
          }
          return Optional.of(new BackingFile() {
            @Override
            public Path path() {
              return f;
            }

            @Override
            public long length() {
              return len;
            }

            @Override
            public void close() {
              if (closed.compareAndSet(false, true)) {
                backingsOpen.decrementAndGet();
              }
            }
          });
        }

        @Override
        public boolean contentFinal() {
          return done.get();
        }
      };
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return Map.of();
    }

    @Override
    public long totalBytes() {
      return 0;
    }
  }

  private void mount(boolean passthrough) throws IOException {
    FuseTestSupport.assumeFuse();
    shard = MemoryTree.randomBytes(7, 6 * 1024 * 1024 + 4099);
    tree.add("/shard.safetensors", shard, false);
    tree.add("/other.safetensors", MemoryTree.randomBytes(8, 2 * 1024 * 1024 + 1), true);
    tree.add("/broken.safetensors", MemoryTree.randomBytes(9, 100_000), true);
    mp = Files.createDirectory(tmp.resolve("mnt")).toRealPath();
    // Splice replies off: these tests count the backing files the passthrough hook asks for, and a
    // daemon-path open of a complete file would take one to splice from (SplicedReadTest, PassthroughIT).
    KernelTransport t = new KernelTransport(InitConfig.defaults().withPassthrough(passthrough).withSpliceReplies(false), (tr, fd) -> {
      PassthroughHook h = new PassthroughHook(fd, passthrough, stats);
      hook.set(h);
      return h;
    });
    mounted = t.mount(mp, tree, FuseOptions.defaults().withFsName("passthrough-test"));
  }

  @AfterEach
  void unmount() {
    if (mounted != null) {
      mounted.close();
    }
  }

  /** Bounded wait for the kernel's asynchronous RELEASEs (no timing is asserted). */
  private static void await(BooleanSupplier cond, String what) throws InterruptedException {
    for (int i = 0; i < 1000 && !cond.getAsBoolean(); i++) {
      Thread.sleep(10);
    }
    assertTrue(cond.getAsBoolean(), what);
  }

  private void awaitReleased() throws InterruptedException {
    await(() -> {
      int[] h = hook.get().openHandles();
      return h[0] == 0 && h[1] == 0;
    }, "every open was released");
  }

  private String mmapSha256(Path p) throws Exception {
    Process child = ChildJvm.start(ChildJvm.MmapSha256.class, p.toString());
    boolean done = child.waitFor(60, TimeUnit.SECONDS);
    if (!done) {
      child.destroyForcibly();
    }
    assertTrue(done, "the mmap child did not finish in 60 s");
    assertEquals(0, child.exitValue());
    return new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
  }

  @Test
  void aFileOpenedIncompleteIsServedHereAndReopenedCompleteIsPassthroughIncludingMmap() throws Exception {
    mount(true);
    Path p = mp.resolve("shard.safetensors");
    assertArrayEquals(shard, Files.readAllBytes(p));
    long served = tree.reads.sum();
    assertTrue(served > 0, "an incomplete file is read through the daemon");
    assertEquals(0, stats.passthroughOpens());
    awaitReleased();

    tree.complete.get("/shard.safetensors").set(true);
    assertArrayEquals(shard, Files.readAllBytes(p));
    assertEquals(1, stats.passthroughOpens(), "the next open after completion is passthrough");
    assertEquals(served, tree.reads.sum(), "no READ reached the daemon");
    assertEquals(FuseTestSupport.sha256(shard), mmapSha256(p));
    assertEquals(2, stats.passthroughOpens());
    assertEquals(served, tree.reads.sum(), "mmap is served by the kernel too");
    awaitReleased();
    await(() -> tree.backingsOpen.get() == 0, "the backing file is released at the last release");
    assertEquals(0, hook.get().passthroughFiles());
  }

  @Test
  void aFileIsNeverInBothModesAtOnceAndConcurrentPassthroughOpensShareOneBacking() throws Exception {
    mount(true);
    Path p = mp.resolve("shard.safetensors");
    try (FileChannel held = FileChannel.open(p, StandardOpenOption.READ)) { // daemon path, still open
      tree.complete.get("/shard.safetensors").set(true);
      assertArrayEquals(shard, Files.readAllBytes(p), "opened while another open is on the daemon path: no EIO");
      assertEquals(0, stats.passthroughOpens());
      ByteBuffer b = ByteBuffer.allocate(4096);
      held.read(b, 1_000_000);
      assertArrayEquals(java.util.Arrays.copyOfRange(shard, 1_000_000, 1_004_096), b.array());
    }
    awaitReleased();
    Path q = mp.resolve("other.safetensors");
    byte[] other = Files.readAllBytes(tree.files.get("/other.safetensors"));
    try (FileChannel a = FileChannel.open(q, StandardOpenOption.READ);
        FileChannel b2 = FileChannel.open(q, StandardOpenOption.READ)) {
      assertEquals(2, stats.passthroughOpens());
      assertEquals(1, tree.backingsHanded.get(), "one backing for both opens of one file");
      ByteBuffer x = ByteBuffer.allocate(other.length);
      while (x.hasRemaining() && a.read(x, x.position()) > 0) {
        // read it all through the first handle
      }
      assertArrayEquals(other, x.array());
      assertEquals(1, hook.get().passthroughFiles());
    }
    awaitReleased();
    await(() -> tree.backingsOpen.get() == 0, "released with the last open");
    assertArrayEquals(other, Files.readAllBytes(q), "reopened: passthrough again");
    assertEquals(3, stats.passthroughOpens());
    assertEquals(2, tree.backingsHanded.get());
  }

  @Test
  void withPassthroughOffEveryFileIsServedHereExact() throws Exception {
    mount(false);
    tree.complete.get("/shard.safetensors").set(true);
    Path p = mp.resolve("shard.safetensors");
    assertArrayEquals(shard, Files.readAllBytes(p));
    assertEquals(FuseTestSupport.sha256(shard), mmapSha256(p));
    assertArrayEquals(Files.readAllBytes(tree.files.get("/other.safetensors")),
        Files.readAllBytes(mp.resolve("other.safetensors")));
    assertEquals(0, stats.passthroughOpens());
    assertEquals(0, tree.backingsHanded.get(), "no backing is even asked for");
    assertTrue(tree.reads.sum() > 0);
  }

  @Test
  void aFileThatFailedItsCheckGivesEioAndNeverPassthrough() throws Exception {
    mount(true);
    IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(mp.resolve("broken.safetensors")));
    assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), String.valueOf(e.getMessage()));
    assertEquals(0, stats.passthroughOpens());
  }
}
