package io.modelcache.cache;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One upstream request that fills a set of claimed chunks. Whoever ends it first — the fetch task
 * on success or error, or a reader that saw no progress for the fetch timeout — fails whatever is
 * still pending, closes the stream (which unblocks a stuck socket read) and returns the permit, so
 * a hung upstream can neither hang readers nor leak fetch slots.
 */
final class Fetch {
  final Blob blob;
  final List<Pending> claims;
  final FetchPriority priority;
  volatile long lastProgress = System.nanoTime();
  /** Holds a fetch slot; before that, waiting readers count any fetch's progress as its own. */
  volatile boolean started;
  private volatile InputStream stream;
  private final AtomicBoolean done = new AtomicBoolean();
  private volatile FetchScheduler scheduler;
  volatile FetchScheduler.Ticket ticket;

  Fetch(Blob blob, List<Pending> claims, FetchPriority priority) {
    this.blob = blob;
    this.claims = claims;
    this.priority = priority;
    for (Pending p : claims) {
      p.fetch = this;
    }
  }

  void progress() {
    lastProgress = System.nanoTime();
  }

  boolean isDone() {
    return done.get();
  }

  /** Called once the scheduler granted a slot and the task runs. */
  void markStarted() {
    progress();
    started = true;
  }

  /** Binds the (not yet submitted) ticket, so that a fail before or while it runs frees it. */
  void bind(FetchScheduler s, FetchScheduler.Ticket t) {
    scheduler = s;
    ticket = t;
  }

  /** Frees the slot (or drops the queued request). Idempotent. */
  void releasePermit() {
    FetchScheduler s = scheduler;
    FetchScheduler.Ticket t = ticket;
    if (s != null && t != null) {
      s.finish(t);
    }
  }

  /** A reader blocks on this fetch: if it still waits for a slot, let it jump the queue. */
  void boost() {
    FetchScheduler s = scheduler;
    FetchScheduler.Ticket t = ticket;
    if (s != null && t != null && !started) {
      s.boost(t);
    }
  }

  void stream(InputStream in) throws IOException {
    stream = in;
    if (done.get()) {
      closeStream();
      throw new IOException("fetch of blob " + blob.spec.digest() + " was aborted");
    }
  }

  void chunkDone(Pending p) {
    blob.inflight.remove(p.chunk, p);
    p.future.complete(null);
  }

  /** Ends the fetch: fails every still-pending chunk with {@code e}. Idempotent. */
  void fail(IOException e) {
    done.set(true);
    for (Pending p : claims) {
      blob.inflight.remove(p.chunk, p);
      p.future.completeExceptionally(e);
    }
    closeStream();
    releasePermit();
  }

  /** Marks normal completion (any chunk not stored is failed, so no reader waits forever). */
  void finish() {
    fail(new IOException("fetch of blob " + blob.spec.digest() + " ended without the chunk"));
  }

  void closeStream() {
    InputStream in = stream;
    if (in != null) {
      try {
        in.close();
      } catch (IOException | RuntimeException ignored) {
        // best effort: we only want to unblock a reader of it
      }
    }
  }
}
