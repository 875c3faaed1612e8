package io.modelcache.source;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import io.modelcache.registry.Backoff;
import io.modelcache.registry.RegistryStats;
import io.modelcache.registry.Sleeper;
import io.modelcache.registry.Transient;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A source whose transient failures do not reach its callers: what the daemon's mounts read through.
 *
 * <p><b>Why resume rather than fail.</b> A registry, a proxy or a link that resets a connection,
 * answers 503, cuts a body short or stalls now and then must not turn into an EIO for a model loader
 * that dies on one. A blob stream that fails part-way is opened again at the first byte it has not
 * delivered ({@code Range}), after a capped exponential backoff, so the caller sees one continuous
 * stream; a stream that ends before its length is a truncation and resumed the same way.
 *
 * <p><b>Why the deadline counts from the last byte.</b> Retrying is bounded by time without progress,
 * the same {@code fetch.timeout} the cache applies to its waiting readers: a registry that keeps
 * sending bytes between faults is worth waiting for however often it fails; one that sends nothing
 * for the whole window is down, and only then does the last error reach the caller (and EIO a
 * reader). Lasting failures (a refusal, a missing blob, a local file's error) are never retried.
 *
 * <p><b>Why small blobs and manifests are fetched again on a digest mismatch.</b> Configs, chunk
 * indices and manifests by digest are read whole and verified by the source; bytes damaged on the way
 * fail that check, and a fresh copy usually passes. They are fetched again up to
 * {@link Policy#maxCorrupt} times before the mismatch is reported. {@link #again} does the same for a
 * whole read made of several requests (a model's manifest, config and tar headers at mount).
 *
 * <p>Every retry is counted in {@link RegistryStats#retried} by its {@link Transient} reason.
 * Threading: as thread-safe as the wrapped source; each stream is used by one reader at a time and
 * may be closed from another thread, which ends a backoff wait at once.
 */
public final class ResilientSource implements ArtifactSource {
  private static final Logger LOG = LoggerFactory.getLogger(ResilientSource.class);

  /**
   * How long and how often to retry.
   *
   * @param deadline give up after this long without progress (no byte received, no call answered)
   * @param backoff the wait before each retry, by attempt
   * @param maxCorrupt fetches of a small blob or manifest that fails its digest before that is final
   * @param sleeper waits between retries; null: real time, ended early by closing the stream
   * @param nanoClock measures the deadline
   */
  public record Policy(Duration deadline, Backoff backoff, int maxCorrupt, Sleeper sleeper, LongSupplier nanoClock) {
    public Policy {
      if (deadline.isNegative() || maxCorrupt < 1) {
        throw new IllegalArgumentException("deadline must be >= 0 and maxCorrupt >= 1");
      }
    }

    /** Retries for {@code deadline} without progress, backoff 100 ms doubling to 2 s, 8 fetches of corrupt bytes. */
    public static Policy of(Duration deadline) {
      return new Policy(deadline, new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2)), 8, null, System::nanoTime);
    }

    public Policy withSleeper(Sleeper s, LongSupplier clock) {
      return new Policy(deadline, backoff, maxCorrupt, s, clock);
    }
  }

  private final ArtifactSource delegate;
  private final Policy policy;

  public ResilientSource(ArtifactSource delegate, Policy policy) {
    this.delegate = delegate;
    this.policy = policy;
  }

  /** The source this one retries. */
  public ArtifactSource delegate() {
    return delegate;
  }

  /** An operation to retry: one registry call, or a read made of several. */
  @FunctionalInterface
  public interface Op<T> {
    T run() throws IOException;
  }

  /**
   * Runs {@code op} until it succeeds, retrying transient failures until the deadline and bad content
   * (DIGEST_MISMATCH, INVALID_ARTIFACT: a damaged tar header fails its checksum) up to
   * {@code maxCorrupt} times; anything else, or the last failure, is thrown as is.
   */
  public <T> T again(Op<T> op) throws IOException {
    return retry(op, true, null);
  }

  private <T> T retry(Op<T> op, boolean invalidIsCorrupt, Object wake) throws IOException {
    long start = policy.nanoClock().getAsLong();
    int attempt = 0;
    int corrupt = 0;
    while (true) {
      try {
        return op.run();
      } catch (IOException e) {
        String reason = Transient.reason(e);
        if (e instanceof ModelCacheException m && (m.kind() == ModelCacheException.Kind.DIGEST_MISMATCH
            || (invalidIsCorrupt && m.kind() == ModelCacheException.Kind.INVALID_ARTIFACT))) {
          if (++corrupt >= policy.maxCorrupt()) {
            throw e;
          }
          reason = Transient.CORRUPT;
        } else if (reason == null || policy.nanoClock().getAsLong() - start >= policy.deadline().toNanos()) {
          throw e;
        }
        attempt++;
        RegistryStats.retried(reason);
        LOG.debug("{}: {} ({}); retry {}", delegate.reference(), e.getMessage(), reason, attempt);
        pause(attempt, wake, () -> false);
      }
    }
  }

  /** Waits the backoff for {@code attempt}; with {@code wake}, until notified on it or {@code stop} holds. */
  private void pause(int attempt, Object wake, java.util.function.BooleanSupplier stop) throws IOException {
    Duration d = policy.backoff().delay(attempt, ThreadLocalRandom.current().nextDouble());
    try {
      if (policy.sleeper() != null) {
        policy.sleeper().sleep(d);
        return;
      }
      if (wake == null) {
        Thread.sleep(d);
        return;
      }
      long end = System.nanoTime() + d.toNanos();
      synchronized (wake) {
        long left;
        while (!stop.getAsBoolean() && (left = end - System.nanoTime()) > 0) {
          wake.wait(Math.max(1, left / 1_000_000));
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while retrying " + delegate.reference());
    }
  }

  @Override
  public Reference reference() {
    return delegate.reference();
  }

  @Override
  public FetchedManifest fetchManifest(String tagOrDigest) throws IOException {
    return retry(() -> delegate.fetchManifest(tagOrDigest), false, null);
  }

  @Override
  public byte[] fetchBlob(Digest digest, long maxBytes) throws IOException {
    return retry(() -> delegate.fetchBlob(digest, maxBytes), false, null);
  }

  @Override
  public byte[] referrers(Digest subject) throws IOException {
    return retry(() -> delegate.referrers(subject), false, null);
  }

  @Override
  public InputStream openBlob(Digest digest, long offset, long length) throws IOException {
    return openBlob(digest, offset, length, 0);
  }

  @Override
  public InputStream openBlob(Digest digest, long offset, long length, int attempt) throws IOException {
    if (length == 0) {
      return InputStream.nullInputStream();
    }
    Resuming r = new Resuming(digest, offset, length, attempt);
    r.reopen(null);
    return r;
  }

  @Override
  public void close() throws IOException {
    delegate.close();
  }

  /** One blob range as a stream that reopens itself after the last delivered byte on transient failures. */
  private final class Resuming extends InputStream implements ReadableByteChannel {
    private final Digest digest;
    private final long offset;
    private final long length;
    private final int attempt;
    private final Object lock = new Object();
    private long delivered;
    private long lastProgress;
    private int retries;
    private volatile InputStream current;
    private volatile boolean closed;

    Resuming(Digest digest, long offset, long length, int attempt) {
      this.digest = digest;
      this.offset = offset;
      this.length = length;
      this.attempt = attempt;
      this.lastProgress = policy.nanoClock().getAsLong();
    }

    /** Opens at the first undelivered byte, retrying until the deadline; {@code after}: the failure that led here. */
    void reopen(IOException after) throws IOException {
      IOException last = after;
      while (true) {
        if (last != null) {
          String reason = Transient.reason(last);
          if (closed || reason == null
              || policy.nanoClock().getAsLong() - lastProgress >= policy.deadline().toNanos()) {
            throw last;
          }
          retries++;
          RegistryStats.retried(reason);
          LOG.debug("{}: blob {} at byte {}: {} ({}); resuming, retry {}", delegate.reference(), digest.shortHex(),
              offset + delivered, last.getMessage(), reason, retries);
          pause(retries, lock, () -> closed);
          if (closed) {
            throw new IOException("blob " + digest + " stream closed");
          }
        }
        try {
          InputStream s = delegate.openBlob(digest, offset + delivered, length < 0 ? -1 : length - delivered, attempt);
          current = s;
          if (closed) {
            s.close();
            throw new IOException("blob " + digest + " stream closed");
          }
          return;
        } catch (IOException e) {
          last = e;
        }
      }
    }

    private interface Step {
      int read(InputStream in) throws IOException;
    }

    private int step(Step s) throws IOException {
      while (true) {
        if (length >= 0 && delivered >= length) {
          return -1;
        }
        InputStream in = current;
        IOException failed;
        try {
          int n = s.read(in);
          if (n > 0) {
            delivered += n;
            lastProgress = policy.nanoClock().getAsLong();
            return n;
          }
          if (n == 0) {
            return 0;
          }
          if (length < 0) {
            return -1;
          }
          failed = new EOFException("blob " + digest + " ended after " + delivered + " of " + length + " bytes");
        } catch (IOException e) {
          failed = e;
        }
        if (closed) {
          throw failed;
        }
        closeQuietly(in);
        reopen(failed);
      }
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n;
      while ((n = read(one, 0, 1)) == 0) {
        // a zero-length read of a one-byte request: ask again
      }
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      return step(in -> in.read(b, off, len));
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      if (!dst.hasRemaining()) {
        return 0;
      }
      return step(in -> {
        if (in instanceof ReadableByteChannel ch) {
          return ch.read(dst);
        }
        byte[] tmp = new byte[Math.min(dst.remaining(), 64 << 10)];
        int n = in.read(tmp, 0, tmp.length);
        if (n > 0) {
          dst.put(tmp, 0, n);
        }
        return n;
      });
    }

    @Override
    public boolean isOpen() {
      return !closed;
    }

    @Override
    public void close() {
      closed = true;
      synchronized (lock) {
        lock.notifyAll();
      }
      closeQuietly(current);
    }

    private void closeQuietly(InputStream in) {
      if (in == null) {
        return;
      }
      try {
        in.close();
      } catch (IOException e) {
        LOG.debug("closing blob {} stream: {}", digest.shortHex(), e.toString());
      }
    }
  }
}
