package io.modelcache.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.fuse.Mounted;
import io.modelcache.fuse.PassthroughHook;
import io.modelcache.fuse.kernel.InitConfig;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FUSE passthrough end to end: a model in a real docker-registry on 127.0.0.1, the shared chunk
 * cache, and a kernel-transport mount read by the kernel. A file opened while its blob streams in
 * is served by the daemon; reopened once its blob is complete and verified it is a passthrough open
 * (counted; sha256 exact through read and through mmap in another process). Under a budget smaller
 * than the model, two files held open in passthrough keep their cache files whole and byte-exact
 * while the others stream and are evicted (the skips counted). With passthrough off the same reads
 * are exact on the daemon path, where a complete file's READs are spliced from its pinned cache
 * file (unless spliceReplies is off). A blob that failed verification gives EIO and never passthrough.
 */
class PassthroughIT {
  static final int CHUNK = 1 << 20;
  @TempDir static Path tmp;
  static RegistryHarness registry;
  static RegistryClient client;
  static ModelArtifact model;
  static ModelArtifact corrupt;
  static final Map<String, byte[]> bytes = new TreeMap<>();
  static int dirs;

  ChunkCache cache;
  ModelMount mount;
  Mounted mounted;
  Path mp;
  final PassthroughHook.Stats stats = new PassthroughHook.Stats();
  final AtomicReference<PassthroughHook> hook = new AtomicReference<>();

  @BeforeAll
  static void setUp() throws Exception {
    Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "\n!!! /dev/fuse is missing: PassthroughIT SKIPPED !!!\n");
    registry = RegistryHarness.start(tmp.resolve("registry"));
    Path src = tmp.resolve("model");
    SyntheticModel.generate(src, new SyntheticModel.Spec(32L << 20, 4, "BF16", 4, 21));
    try (Stream<Path> s = Files.walk(src)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        bytes.put("/" + src.relativize(p), Files.readAllBytes(p));
      }
    }
    client = RegistryClient.open(Reference.parse(registry.hostPort() + "/models/passthrough:v1"), RegistryOptions.defaults());
    ModelPusher.push(src, client, "v1", PushOptions.defaults());
    model = ModelReader.read(client, "v1");
    Path bad = tmp.resolve("bad");
    SyntheticModel.generate(bad, new SyntheticModel.Spec(4L << 20, 1, "BF16", 1, 22));
    ModelPusher.push(bad, client, "bad", PushOptions.defaults());
    corrupt = ModelReader.read(client, "bad");
    ModelFile shard = corrupt.files().stream().filter(f -> f.path().endsWith(".safetensors")).findFirst().orElseThrow();
    try (RandomAccessFile f = new RandomAccessFile(registry.blobDataPath(shard.layer().digest()).toFile(), "rw")) {
      f.seek(shard.size() / 2);
      int b = f.read();
      f.seek(shard.size() / 2);
      f.write(b ^ 0x20); // the registry now serves bytes that do not match the layer digest
    }
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (client != null) {
      client.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  private void mount(ModelArtifact a, long budget, boolean passthrough) throws IOException {
    mount(a, budget, passthrough, true);
  }

  private void mount(ModelArtifact a, long budget, boolean passthrough, boolean splice) throws IOException {
    cache = ChunkCache.open(CacheConfig.defaults(tmp.resolve("cache-" + dirs++)).withChunkSize(CHUNK)
        .withBudgetBytes(budget).withFetchTimeout(java.time.Duration.ofSeconds(20)));
    mount = new ModelMount(a, client, cache);
    mp = Files.createDirectory(tmp.resolve("mnt-" + dirs++));
    KernelTransport t = new KernelTransport(InitConfig.defaults().withPassthrough(passthrough).withSpliceReplies(splice), (tree, fd) -> {
      PassthroughHook h = new PassthroughHook(fd, passthrough, stats);
      hook.set(h);
      return h;
    });
    mounted = t.mount(mp, mount, FuseOptions.defaults().withFsName("passthrough-it"));
  }

  @AfterEach
  void unmount() throws IOException {
    if (mounted != null) {
      mounted.close();
    }
    if (mount != null) {
      mount.close();
    }
    if (cache != null) {
      cache.close();
    }
  }

  static String sha(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  /** Bounded wait (asynchronous RELEASEs, background verification); no timing is asserted. */
  static void await(String what, BooleanSupplier cond) throws InterruptedException {
    for (int i = 0; i < 3000 && !cond.getAsBoolean(); i++) {
      Thread.sleep(10);
    }
    assertTrue(cond.getAsBoolean(), what);
  }

  private void awaitReleased() throws InterruptedException {
    await("every open was released", () -> {
      int[] h = hook.get().openHandles();
      return h[0] == 0 && h[1] == 0;
    });
  }

  private BlobHandle handle(String path) {
    return mount.files().get(path).handle();
  }

  private List<String> shards() {
    return bytes.keySet().stream().filter(p -> p.endsWith(".safetensors")).toList();
  }

  /** {@code MmapHash FILE}: sha256 of FILE through a shared mapping (in its own JVM: a mount must not be faulted in by the JVM serving it). */
  static final class MmapHash {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(map);
        System.out.println(HexFormat.of().formatHex(md.digest()));
      }
    }
  }

  static String mmapSha(Path file) throws Exception {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", cp, MmapHash.class.getName(), file.toString()).start();
    boolean done = p.waitFor(60, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly();
    }
    assertTrue(done, "the mmap child did not finish in 60 s");
    assertEquals(0, p.exitValue(), new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
  }

  @Test
  void openedIncompleteThenReopenedCompleteIsPassthroughWithExactBytesAndMmap() throws Exception {
    mount(model, 1L << 30, true);
    String s = shards().get(0);
    Path f = mp.resolve(s.substring(1));
    assertTrue(handle(s).pinFile().isEmpty());
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)), "served by the daemon while it streams in");
    assertEquals(0, stats.passthroughOpens());
    await("blob complete and verified", () -> handle(s).isComplete());
    awaitReleased();
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)));
    assertEquals(1, stats.passthroughOpens(), "the next open after completion is passthrough");
    long readBefore = mount.bytesRead();
    assertEquals(sha(bytes.get(s)), mmapSha(f));
    assertEquals(2, stats.passthroughOpens());
    assertEquals(readBefore, mount.bytesRead(), "mmap is served by the kernel from the cache file");
    awaitReleased();
    await("the pin is released with the last release", () -> cache.pinnedFiles() == 0);
  }

  @Test
  void filesHeldInPassthroughSurviveABudgetSmallerThanTheModelWhileOthersStream() throws Exception {
    List<String> sh = shards();
    long model = bytes.values().stream().mapToLong(b -> b.length).sum();
    long held = bytes.get(sh.get(0)).length + bytes.get(sh.get(1)).length;
    long budget = held + 4L * CHUNK; // well under the model's size
    assertTrue(budget < model);
    mount(PassthroughIT.model, budget, true);
    for (int i = 0; i < 2; i++) {
      String s = sh.get(i);
      assertArrayEquals(bytes.get(s), Files.readAllBytes(mp.resolve(s.substring(1))));
      await("blob complete", () -> handle(s).isComplete());
    }
    awaitReleased();
    List<FileChannel> open = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        open.add(FileChannel.open(mp.resolve(sh.get(i).substring(1)), StandardOpenOption.READ));
      }
      assertEquals(2, stats.passthroughOpens());
      assertEquals(held, cache.pinnedBytes());
      for (int pass = 0; pass < 2; pass++) {
        for (int i = 2; i < sh.size(); i++) {
          String s = sh.get(i);
          assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(mp.resolve(s.substring(1)))), s + " pass " + pass);
        }
      }
      assertTrue(cache.stats().evictions() > 0, "the others were evicted");
      assertTrue(cache.stats().evictionsSkipped() > 0, "eviction skipped the pinned files");
      for (int i = 0; i < 2; i++) {
        String s = sh.get(i);
        try (var pin = handle(s).pinFile().orElseThrow()) { // still complete, so still pinnable
          assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(pin.path())), "cache file of " + s + " never punched");
        }
        ByteBuffer all = ByteBuffer.allocate(bytes.get(s).length);
        while (all.hasRemaining() && open.get(i).read(all, all.position()) > 0) {
          // read through the held passthrough handle
        }
        assertArrayEquals(bytes.get(s), all.array());
      }
    } finally {
      for (FileChannel c : open) {
        c.close();
      }
    }
    awaitReleased();
  }

  @Test
  void withPassthroughOffTheSameReadsAreExactOnTheDaemonPath() throws Exception {
    mount(model, 1L << 30, false);
    String s = shards().get(0);
    Path f = mp.resolve(s.substring(1));
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)));
    await("blob complete", () -> handle(s).isComplete());
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)));
    assertEquals(sha(bytes.get(s)), mmapSha(f));
    assertEquals(0, stats.passthroughOpens());
    assertEquals(3, stats.daemonOpens(), "every open served by the daemon");
    awaitReleased();
    await("no pin left once every open is released", () -> cache.pinnedFiles() == 0);
  }

  /** sha256 of {@code f} read with O_DIRECT in 128 KiB reads by dd: each read is one READ request. */
  static String directSha(Path f) throws Exception {
    Process p = new ProcessBuilder("sh", "-c", "dd if=\"$1\" iflag=direct bs=128k status=none | sha256sum", "sh", f.toString())
        .redirectErrorStream(true).start();
    boolean done = p.waitFor(60, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly();
    }
    assertTrue(done, "dd did not finish in 60 s");
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertEquals(0, p.exitValue(), out);
    return out.split(" ")[0];
  }

  @Test
  void onTheDaemonPathAVerifiedFileIsServedBySplicingItsPinnedCacheFile() throws Exception {
    mount(model, 1L << 30, false);
    String s = shards().get(1);
    Path f = mp.resolve(s.substring(1));
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)), "read while it streams in: copied");
    await("blob complete", () -> handle(s).isComplete());
    awaitReleased();
    long sent = io.modelcache.fuse.kernel.SpliceReply.sent();
    long read = mount.bytesRead();
    long hits = cache.stats().hits();
    try (FileChannel held = FileChannel.open(f, StandardOpenOption.READ)) {
      await("the open pins the cache file", () -> cache.pinnedFiles() == 1);
      assertEquals(sha(bytes.get(s)), directSha(f), "every 128 KiB read spliced from the cache file");
    }
    int len = bytes.get(s).length;
    long reads = (len + (128 << 10) - 1) / (128 << 10);
    // Needs a pipe of 33 pages or more per worker (the default pipe-max-size is 1 MiB).
    assertTrue(io.modelcache.fuse.kernel.SpliceReply.sent() - sent >= reads - 1,
        "spliced replies: " + (io.modelcache.fuse.kernel.SpliceReply.sent() - sent) + " for " + reads + " reads");
    assertEquals(read + len, mount.bytesRead(), "spliced bytes count as read by the mount");
    assertTrue(cache.stats().hits() > hits, "and as cache hits");
    assertEquals(0, stats.passthroughOpens());
    awaitReleased();
    await("the last release unpins", () -> cache.pinnedFiles() == 0);
  }

  @Test
  void withSpliceRepliesOffTheDaemonPathCopiesAndPinsNothing() throws Exception {
    mount(model, 1L << 30, false, false);
    String s = shards().get(2);
    Path f = mp.resolve(s.substring(1));
    assertEquals(sha(bytes.get(s)), sha(Files.readAllBytes(f)));
    await("blob complete", () -> handle(s).isComplete());
    awaitReleased();
    long sent = io.modelcache.fuse.kernel.SpliceReply.sent();
    try (FileChannel held = FileChannel.open(f, StandardOpenOption.READ)) {
      assertEquals(sha(bytes.get(s)), directSha(f));
      assertEquals(0, cache.pinnedFiles(), "nothing to splice from, nothing pinned");
    }
    assertEquals(sent, io.modelcache.fuse.kernel.SpliceReply.sent(), "no reply spliced");
  }

  @Test
  void aBlobThatFailedVerificationGivesEioAndNeverPassthrough() throws Exception {
    mount(corrupt, 1L << 30, true);
    ModelFile shard = corrupt.files().stream().filter(x -> x.path().endsWith(".safetensors")).findFirst().orElseThrow();
    Path f = mp.resolve(shard.path());
    try {
      Files.readAllBytes(f); // served lazily as it arrives; the blob is checked once whole
    } catch (IOException expected) {
      // the read that completed it may already see the failure
    }
    // Fetched again once after the first failure; the same wrong digest again makes it FAILED.
    await("the blob failed verification", () -> cache.list().stream()
        .anyMatch(i -> i.state() == io.modelcache.cache.BlobState.FAILED));
    assertTrue(cache.stats().verifyFailures() >= 1);
    awaitReleased();
    IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(f));
    assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), String.valueOf(e.getMessage()));
    assertEquals(0, stats.passthroughOpens());
    assertTrue(handle("/" + shard.path()).pinFile().isEmpty());
  }
}
