package io.modelcache.cache;

import java.util.concurrent.CompletableFuture;

/** One claimed, in-flight chunk: readers wait on {@link #future}; {@link #fetch} reports progress. */
final class Pending {
  final int chunk;
  final CompletableFuture<Void> future = new CompletableFuture<>();
  final long created = System.nanoTime();
  volatile Fetch fetch;

  Pending(int chunk) {
    this.chunk = chunk;
  }

  long lastProgress() {
    Fetch f = fetch;
    return f == null ? created : f.lastProgress;
  }
}
