package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.RegistryHarness;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streamed uploads against the real docker-registry: one read of the body, the digest computed on
 * the way and given at the closing PUT, and an upload interrupted by a dropped connection (through
 * {@link UploadCutProxy}) going on from what the registry holds. Every pushed blob is fetched back
 * and compared byte for byte.
 */
class StreamedUploadIT {
  static final int CHUNK = 4 << 20;
  @TempDir static Path dir;
  static RegistryHarness registry;
  static byte[] data;
  static Digest digest;

  @BeforeAll
  static void start() throws IOException {
    registry = RegistryHarness.start(dir.resolve("reg"));
    data = new byte[5 * CHUNK + 12345];
    new Random(7).nextBytes(data);
    digest = Digest.of(data);
  }

  @AfterAll
  static void stop() {
    if (registry != null) {
      registry.close();
    }
  }

  static RegistryOptions options() {
    return RegistryOptions.defaults()
        .withDockerConfig(dir.resolve("no-such-config.json"))
        .withRetries(4, Duration.ofMillis(10), Duration.ofMillis(50))
        .withUploadChunking(1 << 20, CHUNK);
  }

  /** Counts every byte read from the body and every byte the tee sees. */
  static final class Counting implements ArtifactSink.SeekableBody, ArtifactSink.Tee {
    final AtomicLong read = new AtomicLong();
    final AtomicLong teed = new AtomicLong();
    long expectNext;

    @Override
    public InputStream open(long offset) {
      InputStream in = new ByteArrayInputStream(data, (int) offset, data.length - (int) offset);
      return new FilterInputStream(in) {
        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          int n = super.read(b, off, len);
          if (n > 0) {
            read.addAndGet(n);
          }
          return n;
        }
      };
    }

    @Override
    public void update(long position, byte[] b, int off, int len) {
      assertEquals(expectNext, position, "tee bytes in order, each once");
      expectNext += len;
      teed.addAndGet(len);
    }
  }

  private static byte[] fetch(String hostPort, String repo, Digest d) throws IOException {
    try (RegistryClient c = RegistryClient.open(Reference.parse(hostPort + "/" + repo + ":x"), options());
        InputStream in = c.openBlob(d, 0, -1)) {
      return in.readAllBytes();
    }
  }

  @Test
  void readsOnceAndTheRegistryChecksTheDigestItWasGiven() throws IOException {
    Counting body = new Counting();
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/s/once:x"), options())) {
      assertTrue(c.streamsUploads(data.length));
      assertFalse(c.streamsUploads((1 << 20) - 1), "small blobs are hashed first and skipped when present");
      StreamedUpload up = new StreamedUpload(c, data.length, body, body);
      assertEquals(digest, up.run());
      assertEquals(0, up.resumes() + up.restarts());
    }
    assertEquals(data.length, body.read.get(), "every byte read once");
    assertEquals(data.length, body.teed.get());
    assertArrayEquals(data, fetch(registry.hostPort(), "s/once", digest));
    long patches = registry.accessLog().stream()
        .filter(e -> e.method().equals("PATCH") && e.uri().contains("/s/once/") && e.status() == 202).count();
    assertEquals(6, patches, "5 full chunks and the tail");
  }

  @Test
  void connectionDroppedBetweenChunksResumesWhereTheRegistryStands() throws IOException {
    Counting body = new Counting();
    try (UploadCutProxy proxy = new UploadCutProxy(registry.hostPort(), new UploadCutProxy.Cut(3, 0));
        RegistryClient c = RegistryClient.open(Reference.parse(proxy.hostPort() + "/s/between:x"), options())) {
      StreamedUpload up = new StreamedUpload(c, data.length, body, body);
      assertEquals(digest, up.run());
      assertEquals(1, proxy.cuts());
      assertEquals(1, up.resumes(), "asked the registry and went on");
      assertEquals(0, up.restarts());
      assertEquals(data.length, proxy.forwardedBodyBytes(), "nothing sent twice");
    }
    // What the client had sent into the dropped connection is read again, not hashed again.
    assertTrue(body.read.get() <= data.length + CHUNK, "read again: at most the chunk in flight, " + body.read.get());
    assertEquals(data.length, body.teed.get(), "hashed once");
    assertArrayEquals(data, fetch(registry.hostPort(), "s/between", digest));
  }

  @Test
  void connectionDroppedMidChunkStaysExactAndHashesOnce() throws IOException {
    // Distribution 2.8 keeps the cut PATCH's bytes but not the session's signed offset, and drops the
    // session when asked about it: the upload starts a new one. Any registry that keeps the session
    // is resumed from its Range instead; either way the bytes are exact and hashed once.
    Counting body = new Counting();
    try (UploadCutProxy proxy = new UploadCutProxy(registry.hostPort(), new UploadCutProxy.Cut(2, CHUNK / 2 + 777));
        RegistryClient c = RegistryClient.open(Reference.parse(proxy.hostPort() + "/s/mid:x"), options())) {
      StreamedUpload up = new StreamedUpload(c, data.length, body, body);
      assertEquals(digest, up.run());
      assertEquals(1, proxy.cuts());
      assertEquals(1, up.resumes() + up.restarts());
    }
    assertEquals(data.length, body.teed.get(), "hashed once");
    assertArrayEquals(data, fetch(registry.hostPort(), "s/mid", digest));
  }

  @Test
  void aLinkThatKeepsDroppingFailsInOneLine() throws IOException {
    UploadCutProxy.Cut[] every = new UploadCutProxy.Cut[40];
    for (int i = 0; i < every.length; i++) {
      every[i] = new UploadCutProxy.Cut(i + 1, 1000);
    }
    Counting body = new Counting();
    try (UploadCutProxy proxy = new UploadCutProxy(registry.hostPort(), every);
        RegistryClient c = RegistryClient.open(Reference.parse(proxy.hostPort() + "/s/down:x"), options())) {
      ModelCacheException e = assertThrows(ModelCacheException.class,
          () -> new StreamedUpload(c, data.length, body, body).run());
      assertEquals(ModelCacheException.Kind.UNREACHABLE, e.kind());
      assertTrue(e.getMessage().startsWith(proxy.hostPort() + ": registry unreachable ("), e.getMessage());
      assertFalse(e.getMessage().contains("\n"));
    }
  }

  @Test
  void aBodyThatShrinksFailsInsteadOfPushingWrongBytes() throws IOException {
    ArtifactSink.SeekableBody shortBody = at -> new ByteArrayInputStream(data, (int) at, data.length - 100 - (int) at);
    try (RegistryClient c = RegistryClient.open(Reference.parse(registry.hostPort() + "/s/short:x"), options())) {
      ModelCacheException e = assertThrows(ModelCacheException.class,
          () -> c.putStreamed(data.length, shortBody, null));
      assertTrue(e.getMessage().startsWith("file shrank while pushing"), e.getMessage());
    }
  }
}
