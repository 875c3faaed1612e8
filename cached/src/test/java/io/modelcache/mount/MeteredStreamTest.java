package io.modelcache.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MeteredStreamTest {
  private final List<Long> reported = new ArrayList<>();
  private final List<Long> done = new ArrayList<>();
  private final MeteredStream.Sink sink = new MeteredStream.Sink() {
    @Override
    public void bytes(long n) {
      reported.add(n);
    }

    @Override
    public void done(long nanos) {
      done.add(nanos);
    }
  };

  private static byte[] data(int n) {
    byte[] b = new byte[n];
    new Random(1).nextBytes(b);
    return b;
  }

  @Test
  void reportsEveryReadBeforeTheStreamIsClosed() throws IOException {
    byte[] src = data(3 * (1 << 20) + 12_345);
    ByteBuffer dst = ByteBuffer.allocateDirect(src.length);
    try (MeteredStream in = new MeteredStream(new ByteArrayInputStream(src), sink, System.nanoTime())) {
      byte[] small = new byte[10_000];
      int n = in.read(small, 0, small.length);
      dst.put(small, 0, n);
      assertEquals(List.of(10_000L), reported, "counted as it arrived, not at close");
      while (dst.hasRemaining() && in.read(dst) > 0) {
        // the channel path, through a byte-array upstream
      }
      assertEquals(src.length, reported.stream().mapToLong(Long::longValue).sum(), "all counted before close");
      assertTrue(done.isEmpty());
    }
    assertEquals(src.length, reported.stream().mapToLong(Long::longValue).sum());
    assertEquals(1, done.size());
    byte[] got = new byte[src.length];
    dst.flip().get(got);
    assertArrayEquals(src, got);
  }

  @Test
  void aFailedFetchStillCountsWhatArrived() throws IOException {
    MeteredStream in = new MeteredStream(new ByteArrayInputStream(data(5000)), sink, System.nanoTime());
    assertEquals(4000, in.read(new byte[4000], 0, 4000));
    assertEquals(List.of(4000L), reported);
    in.close();
    in.close();
    assertEquals(List.of(4000L), reported);
    assertEquals(1, done.size());
  }
}
