package io.modelcache.fetch;

import io.modelcache.cache.BlobHandle;
import io.modelcache.oci.Digest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Learns a mount's {@link AccessProfile}: the chunks its readers touch, each once, in the order they
 * first touched them (up to {@link #MAX_PROFILE_ENTRIES}). Thread-safe; {@link #record} runs on the
 * reader's thread and takes a lock only for a chunk touched for the first time.
 */
final class ProfileRecorder {
  private static final int MAX_PROFILE_ENTRIES = 1 << 22;

  private final Map<String, AtomicLongArray> touched = new ConcurrentHashMap<>();
  private final List<AccessProfile.Entry> firstTouches = new ArrayList<>();

  /** A read of {@code length} bytes at {@code offset} of {@code path}: notes the chunks it touches first. */
  void record(String path, BlobHandle h, long offset, int length) {
    int cs = h.chunkSize();
    long size = h.spec().contentLength();
    if (offset >= size) {
      return;
    }
    AtomicLongArray bits = touched.computeIfAbsent(path, k -> new AtomicLongArray((int) ((size / cs + 64) >>> 6)));
    int first = (int) (offset / cs);
    int last = (int) ((Math.min(size, offset + length) - 1) / cs);
    for (int i = first; i <= last; i++) {
      long bit = 1L << i;
      if ((bits.get(i >>> 6) & bit) != 0) {
        continue;
      }
      if ((bits.getAndUpdate(i >>> 6, v -> v | bit) & bit) == 0) {
        synchronized (firstTouches) {
          if (firstTouches.size() < MAX_PROFILE_ENTRIES) {
            firstTouches.add(new AccessProfile.Entry(path, i));
          }
        }
      }
    }
  }

  /** The profile learned so far (first-touch order). */
  AccessProfile profile(Digest manifest, int chunkSize) {
    synchronized (firstTouches) {
      return new AccessProfile(manifest, chunkSize, firstTouches);
    }
  }
}
