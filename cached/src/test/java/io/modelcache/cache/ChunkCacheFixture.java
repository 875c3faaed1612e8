package io.modelcache.cache;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the chunk cache tests share: a cache directory per test, caches and fetch pools closed after it,
 * small chunks (64 KiB) and a blob of 17 chunks plus a short one, and helpers that read and shape bytes.
 */
abstract class ChunkCacheFixture {
  static final int CS = 64 << 10;
  static final long SIZE = 17L * CS + 12_345;

  @TempDir Path dir;
  final List<ChunkCache> caches = new ArrayList<>();
  final List<ExecutorService> pools = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (ChunkCache c : caches) {
      c.close();
    }
    pools.forEach(ExecutorService::shutdownNow);
  }

  static byte[] random(long size, long seed) {
    byte[] b = new byte[(int) size];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Fetches run on the reading thread: deterministic, including verification. */
  CacheConfig direct() {
    return CacheConfig.defaults(dir).withChunkSize(CS).withBudgetBytes(1L << 30)
        .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10));
  }

  CacheConfig pooled() {
    ExecutorService pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    });
    pools.add(pool);
    return direct().withFetchExecutor(pool);
  }

  ChunkCache open(CacheConfig cfg) throws IOException {
    ChunkCache c = ChunkCache.open(cfg);
    caches.add(c);
    return c;
  }

  void close(ChunkCache c) throws IOException {
    c.close();
    caches.remove(c);
  }

  static byte[] read(BlobHandle h, long off, int len) throws IOException {
    ByteBuffer dst = ByteBuffer.allocate(len);
    int n = h.read(off, dst);
    return Arrays.copyOf(dst.array(), n);
  }

  static byte[] readAll(BlobHandle h, int piece) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long off = 0;
    while (true) {
      byte[] b = read(h, off, piece);
      if (b.length == 0) {
        return out.toByteArray();
      }
      out.write(b, 0, b.length);
      off += b.length;
    }
  }

  static byte[] slice(byte[] src, long off, int len) {
    int from = (int) Math.min(off, src.length);
    return Arrays.copyOfRange(src, from, (int) Math.min(src.length, off + len));
  }

  /** Waits (bounded) for the blob's state: the refetch after a failed verification runs in the background. */
  static void awaitState(ChunkCache c, String key, BlobState want) throws IOException {
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (c.list().stream().noneMatch(b -> b.key().equals(key) && b.state() == want)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("blob " + key + " never became " + want + ": " + c.list());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  /** A tar-like layer: header, the file, then padding and the end-of-archive blocks. */
  static byte[] tarLike(byte[] file, int prefix, int suffix) {
    byte[] blob = new byte[prefix + file.length + suffix];
    byte[] hdr = random(prefix, 11);
    System.arraycopy(hdr, 0, blob, 0, prefix);
    System.arraycopy(file, 0, blob, prefix, file.length);
    return blob;
  }

  static byte[] gzip(byte[] b) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(b);
    }
    return out.toByteArray();
  }

  /** Serves {@code bad} for the first {@code badOpens} opens, then {@code good}. */
  static BlobFetcher flaky(byte[] bad, byte[] good, int badOpens, java.util.concurrent.atomic.AtomicInteger opens) {
    return (off, len) -> {
      byte[] b = opens.getAndIncrement() < badOpens ? bad : good;
      return new java.io.ByteArrayInputStream(b, (int) off, (int) (len < 0 ? b.length - off : len));
    };
  }

  /** Caches all of {@code data}, closes the cache, then removes the clean marker: as after a crash. */
  void cacheThenCrash(BlobSpec spec, byte[] data) throws IOException {
    ChunkCache cache = open(direct());
    try (BlobHandle h = cache.open(spec, new FakeFetcher(data))) {
      readAll(h, 100_000);
    }
    close(cache);
    Files.delete(dir.resolve("CLEAN"));
  }

  /** Overwrites bytes of the blob's cache file at {@code offset}. */
  void damage(BlobSpec spec, long offset, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(dir.resolve("blobs").resolve(spec.key()), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), offset);
    }
  }
}
