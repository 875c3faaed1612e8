package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.cache.BlobFetcher;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.BlobSpec;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.oci.Digest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** WarmJob over a real chunk cache with in-memory upstreams: done, fetch failure, digest failure. */
class WarmJobTest {
  @TempDir Path dir;
  ChunkCache cache;
  final List<BlobHandle> handles = new ArrayList<>();
  final AtomicLong fetched = new AtomicLong();

  @BeforeEach
  void open() throws IOException {
    cache = ChunkCache.open(CacheConfig.defaults(dir).withChunkSize(64 << 10).withBudgetBytes(1L << 30));
  }

  @AfterEach
  void close() throws IOException {
    handles.forEach(BlobHandle::close);
    cache.close();
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new SplittableRandom(seed).nextBytes(b);
    return b;
  }

  /** A raw blob whose digest is of {@code real} but whose upstream serves {@code served}. */
  private WarmJob.Target target(String path, byte[] real, byte[] served, boolean failUpstream) throws IOException {
    BlobFetcher f = (off, len) -> {
      if (failUpstream) {
        throw new IOException("connection refused");
      }
      int end = len < 0 ? served.length : (int) Math.min(served.length, off + len);
      fetched.addAndGet(end - off);
      return new ByteArrayInputStream(Arrays.copyOfRange(served, (int) off, end));
    };
    BlobHandle h = cache.open(BlobSpec.raw(Digest.of(real), real.length), f);
    handles.add(h);
    return new WarmJob.Target(path, real.length, h);
  }

  private ObjectNode run(List<WarmJob.Target> targets) throws InterruptedException {
    WarmJob job = new WarmJob(7, "r:v1", "sha256:x", null, targets, cache, new RateWindow(System::nanoTime),
        System::nanoTime, () -> {});
    job.start(3);
    for (int i = 0; i < 1000 && job.state() == WarmJob.State.RUNNING; i++) {
      Thread.sleep(20);
    }
    return job.progress();
  }

  @Test
  void readsEverythingAndWaitsForVerification() throws Exception {
    byte[] a = bytes(20 << 20, 1);
    byte[] b = bytes(1000, 2);
    ObjectNode p = run(List.of(target("a.safetensors", a, a, false), target("b.json", b, b, false)));
    assertEquals("DONE", p.path("state").asText(), p.toString());
    assertEquals(a.length + b.length, p.path("totalBytes").asLong());
    assertEquals(a.length + b.length, p.path("cachedBytes").asLong());
    assertEquals(2, p.path("files").asInt());
    assertTrue(handles.stream().allMatch(BlobHandle::isComplete));
    assertEquals(a.length + b.length, fetched.get());

    // Warming again fetches nothing: complete files are skipped.
    ObjectNode again = run(List.of(target("a.safetensors", a, a, false)));
    assertEquals("DONE", again.path("state").asText());
    assertEquals(a.length + b.length, fetched.get());
  }

  @Test
  void anUpstreamFailureFailsTheJobNamingTheFile() throws Exception {
    byte[] a = bytes(1 << 20, 3);
    ObjectNode p = run(List.of(target("a.safetensors", a, a, true)));
    assertEquals("FAILED", p.path("state").asText(), p.toString());
    assertTrue(p.path("error").asText().startsWith("warming r:v1 failed: a.safetensors: "), p.toString());
    assertTrue(p.path("error").asText().contains("connection refused"), p.toString());
  }

  @Test
  void bytesThatDoNotMatchTheDigestFailAsADigestMismatch() throws Exception {
    byte[] real = bytes(1 << 20, 4);
    byte[] served = real.clone();
    served[12345] ^= 1;
    ObjectNode p = run(List.of(target("a.safetensors", real, served, false)));
    assertEquals("FAILED", p.path("state").asText(), p.toString());
    assertEquals("DIGEST_MISMATCH", p.path("kind").asText(), p.toString());
    assertTrue(p.path("error").asText().startsWith("warming r:v1 failed: a.safetensors: "), p.toString());
  }
}
