package io.modelcache.cache;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * Least-recently-used order over weighted entries, with no I/O and no threads: the cache guards it
 * with one lock. Entries are ordered by (access time, insertion sequence).
 *
 * <p>Why a "late access" hint in {@link #victims}: the cache's hit path must not take this lock, so
 * readers only stamp an access time next to the chunk. The policy's own time for an entry is
 * therefore a lower bound; when an entry reaches the head, the hint tells whether it was touched
 * since, and if so it is re-positioned instead of evicted. That keeps the order exact LRU while
 * moving the bookkeeping off the hot path (the same idea as Caffeine's read buffers, without the
 * buffer).
 *
 * @param <K> entry key (the cache uses one per chunk)
 */
public final class LruPolicy<K> {
  private static final class Node<K> {
    final K key;
    final long size;
    long time;
    long seq;

    Node(K key, long size) {
      this.key = key;
      this.size = size;
    }
  }

  private final LongSupplier clock;
  private final Map<K, Node<K>> nodes = new HashMap<>();
  private final TreeSet<Node<K>> order = new TreeSet<>((a, b) -> a.time != b.time
      ? Long.compare(a.time, b.time) : Long.compare(a.seq, b.seq));
  private long seq;
  private long totalBytes;

  public LruPolicy(LongSupplier clock) {
    this.clock = clock;
  }

  /** Adds (or re-weights and touches) an entry as accessed now. */
  public void add(K key, long size) {
    add(key, size, clock.getAsLong());
  }

  /** Adds (or re-weights) an entry with a known access time, e.g. restored from disk. */
  public void add(K key, long size, long accessTime) {
    remove(key);
    Node<K> n = new Node<>(key, size);
    n.time = accessTime;
    n.seq = seq++;
    nodes.put(key, n);
    order.add(n);
    totalBytes += size;
  }

  /** Marks an entry as accessed now; no-op for unknown keys. */
  public void access(K key) {
    Node<K> n = nodes.get(key);
    if (n != null) {
      reposition(n, clock.getAsLong());
    }
  }

  public boolean remove(K key) {
    Node<K> n = nodes.remove(key);
    if (n == null) {
      return false;
    }
    order.remove(n);
    totalBytes -= n.size;
    return true;
  }

  public boolean contains(K key) {
    return nodes.containsKey(key);
  }

  public int size() {
    return nodes.size();
  }

  public long totalBytes() {
    return totalBytes;
  }

  /** Keys from least to most recently used (for tests and listings). */
  public List<K> keysInOrder() {
    List<K> out = new ArrayList<>(order.size());
    for (Node<K> n : order) {
      out.add(n.key);
    }
    return out;
  }

  /**
   * Removes and returns least-recently-used entries until their sizes add up to at least
   * {@code bytesToFree} or nothing evictable is left. Pinned entries are skipped and kept.
   *
   * @param lateAccess an access time recorded outside the policy (or {@code Long.MIN_VALUE})
   */
  public List<K> victims(long bytesToFree, Predicate<K> pinned, ToLongFunction<K> lateAccess) {
    return victims(bytesToFree, pinned, k -> false, lateAccess);
  }

  /**
   * As {@link #victims(long, Predicate, ToLongFunction)}, and entries that are {@code held} (in use
   * for longer than one read, by a reader the policy does not see) are skipped too, then moved to
   * the most-recent end, so that the next pass does not walk them again first. Each is tested at
   * most once per call.
   */
  public List<K> victims(long bytesToFree, Predicate<K> pinned, Predicate<K> held, ToLongFunction<K> lateAccess) {
    List<K> out = new ArrayList<>();
    List<Node<K>> skipped = new ArrayList<>();
    List<Node<K>> moved = new ArrayList<>();
    long freed = 0;
    while (freed < bytesToFree && !order.isEmpty()) {
      Node<K> n = order.pollFirst();
      long late = lateAccess.applyAsLong(n.key);
      if (late > n.time) {
        n.time = late;
        n.seq = seq++;
        order.add(n);
        continue;
      }
      if (pinned.test(n.key)) {
        skipped.add(n);
        continue;
      }
      if (held.test(n.key)) {
        moved.add(n);
        continue;
      }
      nodes.remove(n.key);
      totalBytes -= n.size;
      freed += n.size;
      out.add(n.key);
    }
    order.addAll(skipped);
    long now = clock.getAsLong();
    for (Node<K> n : moved) {
      n.time = Math.max(n.time, now);
      n.seq = seq++;
      order.add(n);
    }
    return out;
  }

  private void reposition(Node<K> n, long time) {
    order.remove(n);
    n.time = time;
    n.seq = seq++;
    order.add(n);
  }
}
