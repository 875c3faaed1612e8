package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bytes damaged in the cache files while the daemon was stopped: a real daemon, registry and mount.
 * The restarted daemon serves exact bytes (read and mmap), fetches only the damaged chunks again,
 * counts them, and hands out passthrough only after it has read the rest back.
 */
class AtRestIT {
  @TempDir static Path tmp;

  @Test
  void damageAtRestIsFoundBeforeItIsServedAndPassthroughWaitsForTheReadBack() throws Exception {
    Fuse.assumeAvailable();
    try (RegistryHarness registry = RegistryHarness.start(tmp.resolve("registry"))) {
      String ref = registry.hostPort() + "/models/at-rest:v1";
      Path src = tmp.resolve("src");
      SyntheticModel.generate(src, new SyntheticModel.Spec(24L << 20, 2, "BF16", 6, 21));
      Cli.ok("push", src.toString(), ref);
      ModelArtifact art;
      Reference r = Reference.parse(ref);
      try (RegistryClient c = RegistryClient.open(r, RegistryOptions.defaults())) {
        art = ModelReader.read(c, r.tagOrDigest());
      }
      List<ModelFile> shards = art.files().stream().filter(f -> f.path().endsWith(".safetensors")).toList();
      assertEquals(2, shards.size(), art.files().toString());

      DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--chunk-size", "256K", "--cache-size", "1G",
          "--config", DaemonProcess.noPrefetchConfig(tmp));
      try (d) {
        d.start();
        Cli.ok("pull", "--home", d.home.toString(), ref);
        d.stop(); // a clean stop: the next start reads nothing back
        for (ModelFile f : shards) {
          flipByte(d.home.resolve("cache/blobs/" + f.layer().digest().hex()), f.size() / 2);
        }
        long servedBefore = served(registry, shards);

        d.start();
        Path mp = Files.createDirectories(tmp.resolve("mnt"));
        Cli.ok("mount", "--home", d.home.toString(), ref, mp.toString());
        Path a = mp.resolve(shards.get(0).path());
        Path b = mp.resolve(shards.get(1).path());
        assertEquals(LazyMountIT.sha256(src.resolve(shards.get(0).path())), LazyMountIT.sha256(a), "read");
        assertEquals(LazyMountIT.sha256(src.resolve(shards.get(1).path())), mmapSha256(b), "mmap");
        Scrape first = Scrape.of(d.metricsPort());
        assertEquals(2, first.value("modelcache_cache_corrupt_chunks_total"), "one damaged chunk in each shard");
        assertEquals(0, first.value("modelcache_fuse_passthrough_opens_total"),
            "not read back since the start: the first opens are the daemon's");
        // The push's chunk index checks granules of DEFAULT_CHUNK_SIZE, which a refetch reads whole.
        long granule = ChunkIndex.DEFAULT_CHUNK_SIZE;
        long again = 0;
        for (int i = 0; i < 50 && (again = served(registry, shards) - servedBefore) < 2 * granule; i++) {
          Thread.sleep(100); // the registry's access log is written after the response
        }
        assertEquals(2 * granule, again, "only the damaged chunks' granules are fetched again");

        // The first open started the read-back of the whole file; a later open gets passthrough.
        assertTrue(openUntilPassthrough(a, d) > 0, "no passthrough open after the read-back");
        assertEquals(LazyMountIT.sha256(src.resolve(shards.get(0).path())), LazyMountIT.sha256(a), "passthrough read");
        assertTrue(Cli.ok("status", "--home", d.home.toString()).out()
            .contains("2 cached chunk(s) found damaged on disk and dropped (fetched again when read)"));
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());

        // A clean restart with nothing damaged: the first open is the daemon's, and it queues a
        // read-back of the mount's files, so B, never opened since the start, opens in passthrough.
        d.stop();
        d.start();
        Cli.ok("mount", "--home", d.home.toString(), ref, mp.toString());
        assertEquals(LazyMountIT.sha256(src.resolve(shards.get(0).path())), LazyMountIT.sha256(a), "read, daemon path");
        assertEquals(0, Scrape.of(d.metricsPort()).value("modelcache_fuse_passthrough_opens_total"));
        assertTrue(openUntilPassthrough(b, d) > 0, "no passthrough open of B after the mount's background read-back");
        assertEquals(LazyMountIT.sha256(src.resolve(shards.get(1).path())), mmapSha256(b), "mmap in passthrough");
        assertEquals(0, Scrape.of(d.metricsPort()).value("modelcache_cache_corrupt_chunks_total"));
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());
      }
    }
  }

  /** Opens {@code f} (reading a byte) every 100 ms, up to 10 s, until the daemon counts a passthrough open; the count. */
  private static double openUntilPassthrough(Path f, DaemonProcess d) throws Exception {
    double pt = 0;
    for (int i = 0; i < 100 && pt == 0; i++) {
      Thread.sleep(100);
      try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
        ch.read(ByteBuffer.allocate(1), 0);
      }
      pt = Scrape.of(d.metricsPort()).value("modelcache_fuse_passthrough_opens_total");
    }
    return pt;
  }

  private static long served(RegistryHarness registry, List<ModelFile> files) {
    long sum = 0;
    for (ModelFile f : files) {
      sum += registry.blobBytesServed(f.layer().digest());
    }
    return sum;
  }

  static void flipByte(Path file, long at) throws Exception {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer one = ByteBuffer.allocate(1);
      ch.read(one, at);
      one.put(0, (byte) (one.get(0) ^ 0x5a)).rewind();
      ch.write(one, at);
    }
  }

  private static String mmapSha256(Path p) throws Exception {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      MappedByteBuffer mb = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()); // MAP_SHARED
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(mb);
      return HexFormat.of().formatHex(md.digest());
    }
  }
}
