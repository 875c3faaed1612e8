package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real kill -9 of a process using the cache, then recovery in this one. */
class ChunkCacheCrashIT {
  static final int CS = 64 << 10;

  static byte[] blobA() {
    return ChunkCacheFixture.random(40L * CS + 999, 31);
  }

  static byte[] blobB() {
    return ChunkCacheFixture.random(60L * CS + 7, 32);
  }

  static CacheConfig config(Path dir) {
    return CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(60L * CS)
        .withFetchTimeout(Duration.ofSeconds(10));
  }

  @Test
  void killMinus9ThenRecoverWithCorrectBytes(@TempDir Path dir) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-") || a.startsWith("-D") || a.startsWith("--enable-native")
            || a.startsWith("--sun-misc"))
        .toList());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(CrashChild.class.getName());
    cmd.add(dir.toString());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      CompletableFuture<Boolean> ready = CompletableFuture.supplyAsync(() -> {
        try {
          for (String line; (line = out.readLine()) != null; ) {
            if (line.equals("READY")) {
              return true;
            }
          }
          return false;
        } catch (java.io.IOException e) {
          return false;
        }
      });
      assertTrue(ready.get(120, TimeUnit.SECONDS), "child never became ready");
      Thread.sleep(500); // let it get busy writing and evicting blob B
    } finally {
      p.destroyForcibly(); // SIGKILL
      assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    }
    assertFalse(Files.exists(dir.resolve("CLEAN")));

    byte[] a = blobA();
    byte[] b = blobB();
    CompletableFuture<ChunkCache> opening = CompletableFuture.supplyAsync(() -> {
      try {
        return ChunkCache.open(config(dir));
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    try (ChunkCache cache = opening.get(120, TimeUnit.SECONDS)) {
      FakeFetcher upA = new FakeFetcher(a);
      try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(a), a.length), upA)) {
        assertArrayEquals(a, ChunkCacheFixture.readAll(h, 1 << 20));
      }
      FakeFetcher upB = new FakeFetcher(b);
      try (BlobHandle h = cache.open(BlobSpec.raw(Digest.of(b), b.length), upB)) {
        assertArrayEquals(b, ChunkCacheFixture.readAll(h, 1 << 20));
      }
      assertTrue(cache.usedBytes() <= cache.budgetBytes());
      long listed = cache.list().stream().mapToLong(CachedBlobInfo::cachedBytes).sum();
      assertEquals(listed, cache.usedBytes());
    }
  }
}
