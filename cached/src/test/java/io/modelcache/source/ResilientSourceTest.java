package io.modelcache.source;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import io.modelcache.registry.Backoff;
import io.modelcache.registry.RegistryStats;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ResilientSourceTest {
  static final byte[] BLOB = new byte[50_000];
  static final Digest D;

  static {
    new Random(3).nextBytes(BLOB);
    D = Digest.of(BLOB);
  }

  /** What the n-th open (0-based) does. */
  sealed interface Step {}

  /** Serves the range, failing with {@code error} (or ending early if null) after {@code bytes}. */
  record Cut(long bytes, IOException error) implements Step {}

  record Refuse(IOException error) implements Step {}

  record Serve() implements Step {}

  /** A fake upstream: the blob, served as the script says, recording every open. */
  static final class Scripted implements ArtifactSource {
    final IntFunction<Step> script;
    final List<long[]> opens = new CopyOnWriteArrayList<>();
    int blobFetches;
    IntFunction<IOException> blobScript = n -> null;

    Scripted(IntFunction<Step> script) {
      this.script = script;
    }

    @Override
    public Reference reference() {
      return new Reference("127.0.0.1:1", "f/m", null, "v1", null);
    }

    @Override
    public FetchedManifest fetchManifest(String t) throws IOException {
      throw ModelCacheException.notFound("f/m: manifest '" + t + "' not found");
    }

    @Override
    public byte[] fetchBlob(Digest d, long max) throws IOException {
      IOException e = blobScript.apply(blobFetches++);
      if (e != null) {
        throw e;
      }
      return BLOB;
    }

    @Override
    public InputStream openBlob(Digest d, long off, long len) throws IOException {
      return openBlob(d, off, len, 0);
    }

    @Override
    public InputStream openBlob(Digest d, long off, long len, int attempt) throws IOException {
      Step s = script.apply(opens.size());
      opens.add(new long[] {off, len, attempt});
      if (s instanceof Refuse r) {
        throw r.error();
      }
      long end = len < 0 ? BLOB.length : off + len;
      long cut = s instanceof Cut c ? Math.min(end, off + c.bytes()) : end;
      IOException error = s instanceof Cut c ? c.error() : null;
      return new Body(off, cut, error);
    }

    @Override
    public void close() {}
  }

  /** A body that is also a channel (as the registry client's is), failing or ending at {@code cut}. */
  static final class Body extends InputStream implements ReadableByteChannel {
    long pos;
    final long cut;
    final IOException error;

    Body(long pos, long cut, IOException error) {
      this.pos = pos;
      this.cut = cut;
      this.error = error;
    }

    @Override
    public int read() {
      throw new UnsupportedOperationException();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (pos >= cut) {
        if (error != null) {
          throw error;
        }
        return -1;
      }
      int n = (int) Math.min(Math.min(len, 777), cut - pos);
      System.arraycopy(BLOB, (int) pos, b, off, n);
      pos += n;
      return n;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      byte[] tmp = new byte[dst.remaining()];
      int n = read(tmp, 0, tmp.length);
      if (n > 0) {
        dst.put(tmp, 0, n);
      }
      return n;
    }

    @Override
    public boolean isOpen() {
      return true;
    }
  }

  /** A clock that only the sleeps move: the deadline counts sleeps, not wall time. */
  final AtomicLong now = new AtomicLong();
  final List<Duration> sleeps = new ArrayList<>();

  ResilientSource resilient(ArtifactSource s, Duration deadline) {
    return new ResilientSource(s, new ResilientSource.Policy(deadline,
        new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)), 4, d -> {
          sleeps.add(d);
          now.addAndGet(d.toNanos());
        }, now::get));
  }

  static Map<String, Long> retries() {
    return RegistryStats.retries();
  }

  static long delta(Map<String, Long> before, String reason) {
    return RegistryStats.retries(reason) - before.get(reason);
  }

  @Test
  void aStreamCutShortResumesAtTheFirstByteItHasNotDelivered() throws IOException {
    Scripted up = new Scripted(n -> switch (n) {
      case 0 -> new Cut(1000, new SocketException("Connection reset"));
      case 1 -> new Cut(5000, null); // a clean end before the range's end: truncated
      default -> new Serve();
    });
    Map<String, Long> before = retries();
    try (InputStream in = resilient(up, Duration.ofSeconds(30)).openBlob(D, 2000, 40_000)) {
      assertArrayEquals(Arrays.copyOfRange(BLOB, 2000, 42_000), in.readAllBytes());
    }
    assertEquals(3, up.opens.size());
    assertArrayEquals(new long[] {2000, 40_000, 0}, up.opens.get(0));
    assertArrayEquals(new long[] {3000, 39_000, 0}, up.opens.get(1));
    assertArrayEquals(new long[] {8000, 34_000, 0}, up.opens.get(2));
    assertEquals(2, sleeps.size());
    assertEquals(1, delta(before, "reset"));
    assertEquals(1, delta(before, "truncated"));
  }

  @Test
  void channelReadsResumeToo() throws IOException {
    Scripted up = new Scripted(n -> n < 3 ? new Cut(4000, new SocketException("Connection reset")) : new Serve());
    ByteBuffer all = ByteBuffer.allocate(BLOB.length);
    try (InputStream in = resilient(up, Duration.ofSeconds(30)).openBlob(D, 0, -1)) {
      ReadableByteChannel ch = (ReadableByteChannel) in;
      while (ch.read(all) >= 0 && all.hasRemaining()) {
        // read to the end
      }
    }
    assertArrayEquals(BLOB, all.array());
    assertEquals(-1, up.opens.get(3)[1], "to the end of the blob, from " + up.opens.get(3)[0]);
    assertEquals(12_000, up.opens.get(3)[0]);
  }

  @Test
  void aRegistryThatKeepsSendingBytesBetweenFaultsIsWaitedFor() throws IOException {
    // Each attempt delivers 1000 bytes, then resets: the deadline counts from the last byte, so 50
    // resets, each followed by a wait of up to 1 s, within a 2 s deadline still end in every byte.
    Scripted up = new Scripted(n -> new Cut(1000, new SocketException("Connection reset")));
    try (InputStream in = resilient(up, Duration.ofSeconds(2)).openBlob(D, 0, BLOB.length)) {
      assertArrayEquals(BLOB, in.readAllBytes());
    }
    assertEquals(50, up.opens.size());
  }

  @Test
  void noProgressForTheWholeDeadlineReachesTheCaller() throws IOException {
    Scripted up = new Scripted(n -> n == 0 ? new Cut(1000, new SocketException("Connection reset"))
        : new Refuse(new ConnectException("Connection refused")));
    Map<String, Long> before = retries();
    InputStream in = resilient(up, Duration.ofSeconds(5)).openBlob(D, 0, BLOB.length);
    byte[] buf = new byte[1000];
    assertEquals(1000, in.readNBytes(buf, 0, 1000));
    ConnectException e = assertThrows(ConnectException.class, () -> in.read(buf));
    assertEquals("Connection refused", e.getMessage());
    long waited = sleeps.stream().mapToLong(Duration::toMillis).sum();
    assertTrue(waited >= 5000 && waited < 6000, "gave up after the deadline: " + waited + " ms of waits");
    assertEquals(up.opens.size() - 2, delta(before, "unreachable"));
  }

  @Test
  void anOpenThatFailsIsRetriedAndALastingFailureIsNot() throws IOException {
    Scripted up = new Scripted(n -> n < 2 ? new Refuse(new ConnectException("Connection refused")) : new Serve());
    try (InputStream in = resilient(up, Duration.ofSeconds(30)).openBlob(D, 0, 100)) {
      assertArrayEquals(Arrays.copyOf(BLOB, 100), in.readAllBytes());
    }
    Scripted missing = new Scripted(n -> new Refuse(ModelCacheException.notFound("f/m: blob " + D + " not found")));
    sleeps.clear();
    ModelCacheException e = assertThrows(ModelCacheException.class,
        () -> resilient(missing, Duration.ofSeconds(30)).openBlob(D, 0, 100));
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    assertEquals(1, missing.opens.size());
    assertTrue(sleeps.isEmpty());
  }

  @Test
  void theRefetchAttemptIsPassedOnSoMirrorsRotate() throws IOException {
    Scripted up = new Scripted(n -> n == 0 ? new Cut(10, new SocketException("Connection reset")) : new Serve());
    try (InputStream in = resilient(up, Duration.ofSeconds(30)).openBlob(D, 0, 100, 2)) {
      in.readAllBytes();
    }
    assertEquals(2, up.opens.get(0)[2]);
    assertEquals(2, up.opens.get(1)[2]);
  }

  @Test
  void aSmallBlobThatFailsItsDigestIsFetchedAgainBounded() throws IOException {
    Scripted up = new Scripted(n -> new Serve());
    up.blobScript = n -> n < 2 ? ModelCacheException.digestMismatch("f/m: blob " + D + " failed verification (got x)") : null;
    Map<String, Long> before = retries();
    assertSame(BLOB, resilient(up, Duration.ofSeconds(30)).fetchBlob(D, 1 << 20));
    assertEquals(3, up.blobFetches);
    assertEquals(2, delta(before, "corrupt"));

    Scripted bad = new Scripted(n -> new Serve());
    bad.blobScript = n -> ModelCacheException.digestMismatch("f/m: blob " + D + " failed verification (got x)");
    ModelCacheException e = assertThrows(ModelCacheException.class,
        () -> resilient(bad, Duration.ofSeconds(30)).fetchBlob(D, 1 << 20));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    assertEquals(4, bad.blobFetches, "maxCorrupt fetches, then the mismatch is final");
  }

  @Test
  void aWholeReadIsRetriedOnBadContentButNotOnAMissingManifest() throws IOException {
    ResilientSource r = resilient(new Scripted(n -> new Serve()), Duration.ofSeconds(30));
    int[] calls = {0};
    assertEquals("ok", r.again(() -> {
      if (calls[0]++ < 2) {
        throw ModelCacheException.invalid("r: layer ab: malformed tar: bad tar header checksum at offset 0");
      }
      return "ok";
    }));
    assertEquals(3, calls[0]);
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> r.fetchManifest("v9"));
    assertEquals("f/m: manifest 'v9' not found", e.getMessage());
  }

  @Test
  void closingTheStreamEndsABackoffWaitAtOnce() throws Exception {
    Scripted up = new Scripted(n -> n == 0 ? new Cut(10, new SocketException("Connection reset"))
        : new Refuse(new ConnectException("Connection refused")));
    ResilientSource r = new ResilientSource(up, new ResilientSource.Policy(Duration.ofMinutes(10),
        new Backoff(Duration.ofSeconds(60), Duration.ofSeconds(60)), 4, null, System::nanoTime));
    InputStream in = r.openBlob(D, 0, 100);
    assertEquals(10, in.readNBytes(10).length);
    Thread reader = Thread.ofPlatform().start(() -> {
      try {
        in.read();
      } catch (IOException expected) {
        // closed under it
      }
    });
    while (reader.getState() != Thread.State.TIMED_WAITING) {
      Thread.sleep(10);
    }
    in.close();
    reader.join(10_000);
    assertFalse(reader.isAlive(), "a 30-60 s backoff ended by close");
    assertEquals(1, up.opens.size(), "nothing opened after close");
  }
}
