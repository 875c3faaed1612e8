package io.modelcache.cache;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** An in-memory upstream: counts requests, records ranges, and can be told to fail or hang. */
final class FakeFetcher implements BlobFetcher {
  volatile byte[] blob;
  final AtomicInteger opens = new AtomicInteger();
  final List<long[]> ranges = new CopyOnWriteArrayList<>();
  volatile boolean fail;
  /** While non-null, open() blocks until it is counted down (bounded by 30 s). */
  volatile CountDownLatch gate;

  FakeFetcher(byte[] blob) {
    this.blob = blob;
  }

  @Override
  public InputStream open(long blobOffset, long length) throws IOException {
    opens.incrementAndGet();
    ranges.add(new long[] {blobOffset, length});
    CountDownLatch g = gate;
    if (g != null) {
      try {
        g.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted");
      }
    }
    if (fail) {
      throw new IOException("upstream is down");
    }
    byte[] b = blob;
    int len = length < 0 ? (int) (b.length - blobOffset) : (int) Math.min(length, b.length - blobOffset);
    return new ByteArrayInputStream(b, (int) blobOffset, len);
  }
}
