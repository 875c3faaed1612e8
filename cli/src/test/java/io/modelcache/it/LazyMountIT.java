package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.layout.OciLayout;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 3's acceptance test: a real docker-registry on 127.0.0.1, a real daemon process started by
 * the launcher, real FUSE mounts, and real kernel reads (read, pread, mmap). Runs on the default
 * (kernel) transport; {@link LazyMountJnrIT} runs the reading and outage tests again on jnr.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LazyMountIT {
  static final long MODEL_BYTES = 256L << 20;

  @TempDir static Path tmp;
  RegistryHarness registry;
  Path source;
  String ref;
  Map<String, String> sourceSha = new TreeMap<>();
  ModelArtifact artifact;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    // Traversable by other users, as /var/lib/modelcache/mounts is, so the allow_other check is about the mount.
    Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
    registry = RegistryHarness.start(tmp.resolve("registry"));
    PushedModel m = PushedModel.push(registry, tmp.resolve("model"), "models/synthetic:v1",
        new SyntheticModel.Spec(MODEL_BYTES, 4, "BF16", 16, 7));
    source = m.source();
    sourceSha = m.sha();
    ref = m.ref();
    artifact = m.artifact();
  }

  @AfterAll
  void tearDown() throws Exception {
    if (registry != null) {
      registry.close();
    }
  }

  /** The FUSE transport the daemons of this class use ({@code fuse.transport}). */
  String transport() {
    return "kernel";
  }

  private DaemonProcess daemon(String name, String... args) throws Exception {
    List<String> a = new ArrayList<>(List.of(args));
    a.addAll(List.of("--chunk-size", "256K"));
    if (!transport().equals("kernel")) { // the transport joins whatever config the test gives
      int at = a.indexOf("--config");
      String given = at >= 0 ? Files.readString(Path.of(a.get(at + 1))) : "";
      Path cfg = Files.writeString(tmp.resolve(name + "-" + transport() + ".yaml"),
          "fuse:\n  transport: " + transport() + "\n" + given);
      if (at >= 0) {
        a.set(at + 1, cfg.toString());
      } else {
        a.addAll(List.of("--config", cfg.toString()));
      }
    }
    if (!a.contains("--cache-size")) {
      a.addAll(List.of("--cache-size", "2G"));
    }
    return new DaemonProcess(tmp.resolve(name), a.toArray(String[]::new)).start();
  }

  private Path mount(DaemonProcess d, String dirName) throws Exception {
    Path mp = Files.createDirectories(tmp.resolve(dirName));
    Cli.Result r = Cli.ok("mount", "--home", d.home.toString(), ref, mp.toString());
    assertTrue(r.out().startsWith("mounted " + ref + " (" + artifact.manifest().digest() + ") at " + mp), r.out());
    return mp;
  }

  private void umount(DaemonProcess d, Path mp) throws Exception {
    Cli.ok("umount", "--home", d.home.toString(), mp.toString());
  }

  @Test
  void everyFileReadsExactlyThroughTheMount() throws Exception {
    try (DaemonProcess d = daemon("home-bytes")) {
      Path mp = mount(d, "mnt-bytes");
      try {
        assertTrue(d.log().contains("FUSE transport: " + transport()), d.log());
        // sha256 of every file, read through the kernel.
        Map<String, String> mounted = new TreeMap<>();
        for (String rel : sourceSha.keySet()) {
          mounted.put(rel, sha256(mp.resolve(rel)));
        }
        assertEquals(sourceSha, mounted);
        // A cold read's chunks just fetched are written to the reader from the cache's memory by the
        // kernel transport (no copy into a reply buffer); jnr copies every read.
        Scrape afterCold = Scrape.of(d.metricsPort());
        double lent = afterCold.value("modelcache_cache_lent_bytes_total");
        if (transport().equals("kernel")) {
          assertTrue(lent > 0 && lent <= artifact.totalBytes(), "bytes lent from memory on the cold read: " + lent);
        } else {
          assertEquals(0, lent, "jnr copies every read");
        }

        // mmap (MAP_SHARED, as FileChannel.map does) of each safetensors file.
        for (String rel : sourceSha.keySet()) {
          if (rel.endsWith(".safetensors")) {
            try (FileChannel ch = FileChannel.open(mp.resolve(rel), StandardOpenOption.READ)) {
              MappedByteBuffer mb = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
              MessageDigest md = MessageDigest.getInstance("SHA-256");
              md.update(mb);
              assertEquals(sourceSha.get(rel), HexFormat.of().formatHex(md.digest()), "mmap of " + rel);
            }
          }
        }

        // 1,000 random preads at unaligned offsets and lengths.
        SplittableRandom rnd = new SplittableRandom(99);
        List<String> files = new ArrayList<>(sourceSha.keySet());
        for (int i = 0; i < 1000; i++) {
          String rel = files.get(rnd.nextInt(files.size()));
          long size = Files.size(source.resolve(rel));
          if (size == 0) {
            continue;
          }
          long off = rnd.nextLong(size);
          int len = (int) Math.min(size - off, 1 + rnd.nextInt(3 << 20));
          assertEquals(ByteBuffer.wrap(pread(source.resolve(rel), off, len)), ByteBuffer.wrap(pread(mp.resolve(rel), off, len)),
              "pread " + rel + " @" + off + "+" + len);
        }

        // Extended attributes: the layer digest on each file, the manifest digest on the root.
        for (ModelFile f : artifact.files()) {
          assertEquals(f.layer().digest().toString(), xattr(mp.resolve(f.path()), "modelcache.digest"), f.path());
        }
        assertEquals(artifact.manifest().digest().toString(), xattr(mp, "modelcache.manifest"));

        // statfs reports the model's size; writes fail with EROFS.
        long total = Files.getFileStore(mp).getTotalSpace();
        assertTrue(total >= artifact.totalBytes() && total < artifact.totalBytes() + (64L << 10) * artifact.files().size(),
            "statfs total " + total + " vs model " + artifact.totalBytes());
        IOException rofs = assertThrows(IOException.class, () -> Files.writeString(mp.resolve("new-file"), "x"));
        assertTrue(String.valueOf(rofs.getMessage()).contains("Read-only file system"), rofs.toString());

        // allow_other: another user (as a pod's would be) reads the model too.
        String shard = sourceSha.keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
        Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sha256sum",
            mp.resolve(shard).toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith(sourceSha.get(shard)), "user nobody reads the same bytes: " + out);

        // The tree as ls -lR shows it: names, types, sizes, permissions, mtimes.
        assertEquals(listing(source), listing(mp));
        Cli.Result ls = Cli.ok("ls", "--home", d.home.toString());
        assertTrue(ls.out().contains(ref) && ls.out().contains(mp.toString()) && ls.out().contains("100.0%"), ls.out());
      } finally {
        umount(d, mp);
      }
      try (Stream<Path> s = Files.list(mp)) {
        assertEquals(0, s.count(), "mountpoint is empty after umount");
      }
    }
  }

  @Test
  void twoMountsOfOneModelFetchEachBlobOnce() throws Exception {
    Map<ModelFile, Long> before = new java.util.HashMap<>();
    for (ModelFile f : artifact.files()) {
      before.put(f, registry.blobBytesServed(f.layer().digest()));
    }
    try (DaemonProcess d = daemon("home-two")) {
      Path a = mount(d, "mnt-two-a");
      Path b = mount(d, "mnt-two-b");
      try {
        List<CompletableFuture<Map<String, String>>> reads = new ArrayList<>();
        for (Path mp : List.of(a, b)) {
          reads.add(CompletableFuture.supplyAsync(() -> {
            Map<String, String> m = new TreeMap<>();
            for (String rel : sourceSha.keySet()) {
              m.put(rel, sha256Unchecked(mp.resolve(rel)));
            }
            return m;
          }));
        }
        for (CompletableFuture<Map<String, String>> f : reads) {
          assertEquals(sourceSha, f.get(10, TimeUnit.MINUTES));
        }
      } finally {
        umount(d, a);
        umount(d, b);
      }
    }
    // The registry's own access log: each blob's bytes were sent exactly once.
    for (ModelFile f : artifact.files()) {
      assertEquals(f.layer().size(), registry.blobBytesServed(f.layer().digest()) - before.get(f),
          "registry bytes sent for " + f.path());
    }
  }

  @Test
  void aCacheSmallerThanTheModelStaysWithinBudgetAndReadsCorrectly() throws Exception {
    long budget = 64L << 20;
    try (DaemonProcess d = daemon("home-budget", "--cache-size", "64M")) {
      Path mp = mount(d, "mnt-budget");
      try {
        for (int pass = 0; pass < 2; pass++) {
          for (String rel : sourceSha.keySet()) {
            assertEquals(sourceSha.get(rel), sha256(mp.resolve(rel)), "pass " + pass + " " + rel);
            long used = allocatedBytes(d.home.resolve("cache"));
            // Budget plus at most the in-flight chunks (8 fetches of 256 KiB) plus index files.
            assertTrue(used <= budget + (8L << 20), "cache uses " + used + " bytes on disk, budget " + budget);
          }
        }
      } finally {
        umount(d, mp);
      }
    }
  }

  @Test
  void aStoppedRegistryFailsUncachedReadsWithEioAndRecovers() throws Exception {
    // Without background fill, so that part of the model is still uncached when the registry stops.
    Path cfg = Files.writeString(tmp.resolve("no-fill.yaml"), "readAhead:\n  backgroundFill: false\n");
    try (DaemonProcess d = daemon("home-outage", "--fetch-timeout", "5", "--config", cfg.toString())) {
      Path mp = mount(d, "mnt-outage");
      try {
        String first = sourceSha.keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
        byte[] head = pread(mp.resolve(first), 0, 1 << 20); // cached now
        registry.stop();
        try {
          assertEquals(ByteBuffer.wrap(pread(source.resolve(first), 0, 1 << 20)), ByteBuffer.wrap(head));
          assertEquals(ByteBuffer.wrap(head), ByteBuffer.wrap(pread(mp.resolve(first), 0, 1 << 20)), "cached range still reads");
          long size = Files.size(source.resolve(first));
          long t0 = System.nanoTime();
          CompletableFuture<byte[]> uncached = CompletableFuture.supplyAsync(() -> preadUnchecked(mp.resolve(first), size - 4096, 4096));
          Exception e = assertThrows(Exception.class, () -> uncached.get(90, TimeUnit.SECONDS));
          assertTrue(String.valueOf(e.getCause()).contains("Input/output error"), "EIO expected, got " + e);
          long secs = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
          assertTrue(secs < 60, "uncached read failed after " + secs + " s");
        } finally {
          registry.restart();
        }
        assertEquals(sourceSha.get(first), sha256(mp.resolve(first)), "reads succeed after the registry returns");
      } finally {
        umount(d, mp);
      }
    }
  }

  @Test
  void badInputFailsWithOneClearLine() throws Exception {
    String home = tmp.resolve("home-bad").toString();
    Cli.Result none = Cli.run(60, "ls", "--home", home);
    assertEquals(9, none.exit());
    assertEquals("modelcache: no daemon is running (no control socket at " + home + "/modelcache.sock); start one with "
        + "'modelcache daemon --home " + home + "' or 'systemctl start modelcache'", none.errLine());
    try (DaemonProcess d = daemon("home-bad")) {
      Path full = Files.createDirectories(tmp.resolve("not-empty"));
      Files.writeString(full.resolve("x"), "x");
      Cli.Result r = Cli.run(60, "mount", "--home", home, ref, full.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: mountpoint " + full + " is not empty", r.errLine());

      Path missing = tmp.resolve("missing");
      r = Cli.run(60, "mount", "--home", home, ref, missing.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: mountpoint " + missing + " does not exist", r.errLine());

      Path mp = Files.createDirectories(tmp.resolve("mnt-bad"));
      String unknown = registry.hostPort() + "/models/nope:v1";
      r = Cli.run(60, "mount", "--home", home, unknown, mp.toString());
      assertEquals(3, r.exit());
      assertEquals("modelcache: " + registry.hostPort() + "/models/nope: manifest 'v1' not found", r.errLine());

      r = Cli.run(60, "umount", "--home", home, tmp.toString());
      assertEquals(2, r.exit());
      assertEquals("modelcache: " + tmp + " is not a ModelCache mount", r.errLine());

      // Over the daemon's own files (its cache, its state) a mount would hide them: an unsafe path.
      Path realHome = Path.of(home).toRealPath();
      Path inHome = Files.createDirectories(Path.of(home).resolve("cache/over-the-cache"));
      r = Cli.run(60, "mount", "--home", home, ref, inHome.toString());
      assertEquals(7, r.exit(), r.err());
      assertEquals("modelcache: mountpoint " + inHome + " would cover the daemon's own files in " + realHome
          + " (cache, state, profiles, mounts.d); mount elsewhere, for example under " + realHome.resolve("mounts"),
          r.errLine());
      // Elsewhere under the home is fine: the Kubernetes manifests mount under <home>/mounts/.
      Path underMounts = Files.createDirectories(Path.of(home).resolve("mounts/inside-home"));
      Cli.ok("mount", "--home", home, ref, underMounts.toString());
      Cli.ok("umount", "--home", home, underMounts.toString());

      mount(d, "mnt-bad");
      try {
        r = Cli.run(60, "mount", "--home", home, ref, mp.toString());
        assertEquals(2, r.exit());
        assertEquals("modelcache: mountpoint " + mp + " is already mounted (" + ref + ")", r.errLine());
      } finally {
        umount(d, mp);
      }

      // A mount made through a link is the kernel's mount of its target: listed and unmounted by it.
      Path target = Files.createDirectories(tmp.resolve("link-target"));
      Path link = Files.createSymbolicLink(tmp.resolve("link-to-target"), target);
      Cli.ok("mount", "--home", home, ref, link.toString());
      String listed = Cli.ok("ls", "--json", "--home", home).out();
      assertTrue(listed.contains("\"" + target.toRealPath() + "\""), listed);
      Cli.Result off = Cli.ok("umount", "--home", home, target.toString());
      assertEquals("unmounted " + target, off.out().strip());
    }
  }

  @Test
  void aCleanRestartKeepsTheCacheAndRemountsWithoutRefetching() throws Exception {
    Path home = tmp.resolve("home-restart");
    Path mp;
    try (DaemonProcess d = daemon("home-restart")) {
      mp = mount(d, "mnt-restart");
      for (String rel : sourceSha.keySet()) {
        assertEquals(sourceSha.get(rel), sha256(mp.resolve(rel)));
      }
      d.stop(); // SIGTERM: unmounts, closes the cache cleanly
      assertTrue(Files.exists(home.resolve("cache/CLEAN")), "a SIGTERM leaves the clean-shutdown marker:\n" + d.log());
      assertTrue(!d.log().contains("closing cache"), "the cache closed without errors:\n" + d.log());
    }
    try (Stream<Path> s = Files.list(mp)) {
      assertEquals(0, s.count(), "a clean stop unmounts");
    }
    Map<ModelFile, Long> before = new java.util.HashMap<>();
    for (ModelFile f : artifact.files()) {
      before.put(f, registry.blobBytesServed(f.layer().digest()));
    }
    try (DaemonProcess d = new DaemonProcess(home, "--chunk-size", "256K", "--cache-size", "2G").start()) {
      // The mount table is restored at the pinned digest.
      Cli.Result ls = Cli.ok("ls", "--home", home.toString(), "--json");
      assertTrue(ls.out().contains(artifact.manifest().digest().toString()) && ls.out().contains(mp.toString()), ls.out());
      for (String rel : sourceSha.keySet()) {
        assertEquals(sourceSha.get(rel), sha256(mp.resolve(rel)));
      }
      umount(d, mp);
    }
    for (ModelFile f : artifact.files()) {
      assertEquals(before.get(f), registry.blobBytesServed(f.layer().digest()), "refetched " + f.path());
    }
  }

  // ---- helpers

  static String xattr(Path p, String name) throws IOException {
    var view = Files.getFileAttributeView(p, java.nio.file.attribute.UserDefinedFileAttributeView.class);
    ByteBuffer b = ByteBuffer.allocate(view.size(name));
    view.read(name, b);
    return new String(b.array(), 0, b.position(), java.nio.charset.StandardCharsets.UTF_8);
  }

  static String sha256(Path p) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
      while (ch.read(buf) >= 0) {
        buf.flip();
        md.update(buf);
        buf.clear();
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String sha256Unchecked(Path p) {
    try {
      return sha256(p);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static byte[] pread(Path p, long off, int len) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(len);
      while (b.hasRemaining()) {
        int n = ch.read(b, off + b.position());
        if (n < 0) {
          break;
        }
      }
      return b.array();
    }
  }

  static byte[] preadUnchecked(Path p, long off, int len) {
    try {
      return pread(p, off, len);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** What `ls -lR` shows, minus owner and link count: path, type, size, permissions, mtime. */
  static List<String> listing(Path root) throws IOException {
    List<String> out = new ArrayList<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted().toList()) {
        if (p.equals(root)) {
          continue;
        }
        boolean dir = Files.isDirectory(p);
        out.add(root.relativize(p) + " " + (dir ? "d" : "-") + java.nio.file.attribute.PosixFilePermissions.toString(
            Files.getPosixFilePermissions(p)) + " " + (dir ? "" : Files.size(p) + " "
            + Files.getLastModifiedTime(p).toInstant().getEpochSecond()));
      }
    }
    return out;
  }

  /** Bytes the filesystem allocated for the cache's blob files (sparse files count only their data). */
  static long allocatedBytes(Path cacheDir) throws Exception {
    Path blobs = cacheDir.resolve("blobs");
    if (!Files.exists(blobs)) {
      return 0;
    }
    Process p = new ProcessBuilder("du", "-s", "-B1", blobs.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "du failed: " + out);
    return Long.parseLong(out.split("\\s+")[0]);
  }

}
