package io.modelcache.modelpack;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.security.MessageDigest;
import java.util.concurrent.Executor;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongConsumer;

/**
 * Copies one blob stream into a file in one pass: each {@link #BUFFER}-byte direct buffer is filled
 * from the stream (straight out of the HTTP client's buffers when the stream is a channel), hashed
 * and written with one {@code write} call, so every byte is received, hashed and written once and
 * never read back.
 *
 * <p><b>Why O_DIRECT.</b> Given a second channel on the same file opened with O_DIRECT
 * ({@link DirectFile}), every whole buffer goes to the disk from the buffer itself and only the last,
 * shorter one through the page cache. A buffered write copies every byte into page-cache pages that
 * the kernel must then write back and that push the node's other pages out; on this project's test
 * machine 2 GiB written buffered and synced cost 4.8–6.2 s and 2–2.6 CPU-s per GiB against 1.2 s and
 * 0.07 CPU-s per GiB through O_DIRECT (docs/performance.md). Without O_DIRECT (tmpfs before 6.6, some
 * overlays) write-back is started behind the writer ({@code force(false)} on {@code flusher} every
 * {@link #FLUSH_EVERY} bytes, at most one pending): the kernel otherwise holds gigabytes of dirty
 * pages until the closing fsync, which then costs a whole disk pass after the network is done.
 * {@code transferFrom} would bypass the HTTP client (TLS, proxies, auth). One instance per blob, used
 * by one thread.
 */
final class BlobFileWriter {
  static final int BUFFER = 4 << 20;
  static final long FLUSH_EVERY = 64L << 20;

  private final FileChannel out;
  /** Null once a direct write was refused: the rest of the copy goes through {@code out}. */
  private DirectFile direct;
  private final MessageDigest md;
  private final Executor flusher;
  /** The write-back started behind the writer, or null: at most one at a time. */
  private CompletableFuture<Void> flushing;
  private volatile IOException flushFailure;
  private long sinceFlush;
  private long directBytes;
  private boolean directRefused;

  /**
   * @param out the file, opened for writing
   * @param direct the same file through O_DIRECT, or null to write everything through {@code out}
   */
  BlobFileWriter(FileChannel out, DirectFile direct, MessageDigest md, Executor flusher) {
    this.out = out;
    this.direct = direct;
    this.md = md;
    this.flusher = flusher;
  }

  /**
   * Writes everything {@code in} delivers from file offset {@code start} (a multiple of the direct
   * file's block size when there is one); returns the byte count. {@code progress} gets each written
   * count.
   */
  long copy(InputStream in, long start, LongConsumer progress) throws IOException {
    return copy(in instanceof ReadableByteChannel c ? c : Channels.newChannel(in), start, progress);
  }

  /** As {@link #copy(InputStream, long, LongConsumer)}, from a channel (read until it ends). */
  long copy(ReadableByteChannel ch, long start, LongConsumer progress) throws IOException {
    long n;
    try {
      n = copyAll(ch, start, progress);
    } finally {
      // Linux reports a write-back error once per open file: a failure the flusher's fdatasync got is
      // not seen again by the caller's closing fsync on the same channel, so wait for it here.
      awaitFlush();
    }
    IOException f = flushFailure;
    if (f != null) {
      throw f;
    }
    return n;
  }

  private long copyAll(ReadableByteChannel ch, long start, LongConsumer progress) throws IOException {
    ByteBuffer buf = direct != null ? direct.buffer(BUFFER) : ByteBuffer.allocateDirect(BUFFER);
    long pos = start;
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
      if (direct != null && direct.aligned(pos, n)) {
        try {
          while (buf.hasRemaining()) {
            pos += direct.channel().write(buf, pos);
          }
          directBytes += n;
        } catch (IOException e) {
          if (buf.position() != 0) {
            throw e;
          }
          direct = null; // a file system that opens with O_DIRECT but refuses the write: buffered from here
          directRefused = true;
        }
      }
      if (buf.hasRemaining()) {
        while (buf.hasRemaining()) {
          pos += out.write(buf, pos);
        }
        flushBehind(n);
      }
      progress.accept(n);
    }
    return pos - start;
  }

  /** Waits for the write-back in flight, if any (its failure is left in {@link #flushFailure}). */
  private void awaitFlush() {
    CompletableFuture<Void> f = flushing;
    if (f != null) {
      f.exceptionally(e -> null).join();
    }
  }

  /** Whether a direct write was refused, so the rest of the copy went through the page cache. */
  boolean directRefused() {
    return directRefused;
  }

  /** Bytes {@link #copy} wrote through O_DIRECT (the rest went through the page cache). */
  long directBytes() {
    return directBytes;
  }

  private void flushBehind(int n) {
    sinceFlush += n;
    if (flusher == null || sinceFlush < FLUSH_EVERY || (flushing != null && !flushing.isDone())) {
      return;
    }
    sinceFlush = 0;
    flushing = CompletableFuture.runAsync(() -> {
      try {
        out.force(false);
      } catch (java.nio.channels.ClosedChannelException e) {
        // the copy failed and its channel was closed first: the copy's own error decides
      } catch (IOException e) {
        flushFailure = e;
      }
    }, flusher);
  }
}
