package io.modelcache.cache;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * A fetch was cancelled because nobody needs its bytes any more: the last handle on its blob closed
 * (the model was unmounted) while a read-ahead or fill request was queued or streaming.
 *
 * <p><b>Why cancel rather than let it finish.</b> Background requests are large (tens of MiB) and a
 * node unmounting a model usually mounts another: the link and the fetch slots belong to that one
 * now. Cancelling closes the stream mid-body; chunks that arrived whole stay (they were checked and
 * published one by one), the chunk in progress is dropped with its buffer, and chunks held back for
 * an unfinished index granule are never published, so no partial chunk becomes visible.
 *
 * <p>A reader that raced the cancel (a handle opened again just as the last one closed, waiting on
 * one of the cancelled chunks) does not see this exception: {@link Ingest} claims the chunk again.
 */
final class FetchCancelled extends IOException {
  FetchCancelled(String message) {
    super(message);
  }

  /** Fails every fetch in flight or queued for {@code b}; returns how many were cancelled. */
  static int cancelAll(Blob b) {
    Set<Fetch> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Pending p : b.inflight.values()) {
      Fetch f = p.fetch;
      if (f != null && !f.isDone()) {
        seen.add(f);
      }
    }
    // Queued ones first: failing a running one frees its slot, which would start the next in line.
    List<Fetch> order = new ArrayList<>(seen);
    order.sort(Comparator.comparing(f -> f.started));
    for (Fetch f : order) {
      f.fail(new FetchCancelled("fetch of blob " + b.spec.digest() + " cancelled: no handle is open on it"));
    }
    return order.size();
  }
}
