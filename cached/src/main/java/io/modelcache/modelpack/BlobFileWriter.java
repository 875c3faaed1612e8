package io.modelcache.modelpack;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.security.MessageDigest;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongConsumer;

/**
 * Copies one blob stream into a file in one pass: each {@link #BUFFER}-byte direct buffer is filled
 * from the stream (straight out of the HTTP client's buffers when the stream is a channel), hashed
 * and written with one {@code write} call, so every byte is received, hashed and written once and
 * never read back. Write-back is started behind the writer ({@code force(false)} on {@code flusher}
 * every {@link #FLUSH_EVERY} bytes, at most one pending): the kernel otherwise holds gigabytes of
 * dirty pages until the closing fsync, which then costs a whole disk pass after the network is done.
 * Of the write paths only this one and the former 1 MiB heap-array reads with 64 KiB writes were
 * measured (docs/performance.md); transferFrom would bypass the HTTP client (TLS, proxies, auth).
 * One instance per blob, used by one thread.
 */
final class BlobFileWriter {
  static final int BUFFER = 4 << 20;
  static final long FLUSH_EVERY = 64L << 20;

  private final FileChannel out;
  private final MessageDigest md;
  private final Executor flusher;
  private final AtomicBoolean flushing = new AtomicBoolean();
  private volatile IOException flushFailure;
  private long sinceFlush;

  BlobFileWriter(FileChannel out, MessageDigest md, Executor flusher) {
    this.out = out;
    this.md = md;
    this.flusher = flusher;
  }

  /**
   * Appends everything {@code in} delivers at the channel's position; returns the byte count.
   * {@code progress} gets each written count.
   */
  long copy(InputStream in, LongConsumer progress) throws IOException {
    ReadableByteChannel ch = in instanceof ReadableByteChannel c ? c : Channels.newChannel(in);
    ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER);
    long total = 0;
    boolean eof = false;
    while (!eof) {
      buf.clear();
      while (buf.hasRemaining()) {
        int r = ch.read(buf);
        if (r < 0) {
          eof = true;
          break;
        }
      }
      buf.flip();
      int n = buf.remaining();
      if (n == 0) {
        break;
      }
      md.update(buf.duplicate());
      while (buf.hasRemaining()) {
        out.write(buf);
      }
      total += n;
      progress.accept(n);
      flushBehind(n);
    }
    IOException f = flushFailure;
    if (f != null) {
      throw f;
    }
    return total;
  }

  private void flushBehind(int n) {
    sinceFlush += n;
    if (flusher == null || sinceFlush < FLUSH_EVERY || !flushing.compareAndSet(false, true)) {
      return;
    }
    sinceFlush = 0;
    flusher.execute(() -> {
      try {
        out.force(false);
      } catch (java.nio.channels.ClosedChannelException e) {
        // the copy finished (or failed) first: its own fsync or error decides
      } catch (IOException e) {
        flushFailure = e;
      } finally {
        flushing.set(false);
      }
    });
  }
}
