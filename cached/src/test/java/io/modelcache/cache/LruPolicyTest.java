package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LruPolicyTest {
  private final AtomicLong now = new AtomicLong(100);
  private final LruPolicy<String> lru = new LruPolicy<>(now::get);

  private void add(String k, long size) {
    now.incrementAndGet();
    lru.add(k, size);
  }

  @Test
  void evictsLeastRecentlyUsedFirst() {
    add("a", 10);
    add("b", 10);
    add("c", 10);
    assertEquals(List.of("a", "b", "c"), lru.keysInOrder());
    assertEquals(List.of("a", "b"), lru.victims(15, k -> false, k -> Long.MIN_VALUE));
    assertEquals(List.of("c"), lru.keysInOrder());
    assertEquals(10, lru.totalBytes());
  }

  @Test
  void accessMovesToTail() {
    add("a", 10);
    add("b", 10);
    add("c", 10);
    now.incrementAndGet();
    lru.access("a");
    assertEquals(List.of("b", "c", "a"), lru.keysInOrder());
    assertEquals(List.of("b"), lru.victims(1, k -> false, k -> Long.MIN_VALUE));
  }

  @Test
  void sameTimeTiesBrokenByInsertionOrder() {
    lru.add("x", 1);
    lru.add("y", 1);
    lru.add("z", 1);
    assertEquals(List.of("x", "y", "z"), lru.keysInOrder());
  }

  @Test
  void pinnedEntriesAreSkippedAndKept() {
    add("a", 10);
    add("b", 10);
    add("c", 10);
    List<String> v = lru.victims(20, Set.of("a")::contains, k -> Long.MIN_VALUE);
    assertEquals(List.of("b", "c"), v);
    assertTrue(lru.contains("a"));
    assertEquals(List.of(), lru.victims(100, k -> true, k -> Long.MIN_VALUE));
    assertEquals(1, lru.size());
  }

  @Test
  void lateAccessHintRepositionsInsteadOfEvicting() {
    add("a", 10); // t=101
    add("b", 10); // t=102
    add("c", 10); // t=103
    // "a" was read lock-free at t=200: it is the most recent, so b and c go first.
    List<String> v = lru.victims(20, k -> false, k -> k.equals("a") ? 200 : Long.MIN_VALUE);
    assertEquals(List.of("b", "c"), v);
    assertEquals(List.of("a"), lru.keysInOrder());
  }

  @Test
  void removeAndReAddAccountBytes() {
    add("a", 7);
    add("b", 5);
    assertTrue(lru.remove("a"));
    assertFalse(lru.remove("a"));
    assertEquals(5, lru.totalBytes());
    lru.add("b", 9, 50);
    assertEquals(9, lru.totalBytes());
    add("c", 1);
    assertEquals(List.of("b", "c"), lru.keysInOrder());
  }

  @Test
  void restoredTimesOrderEntries() {
    lru.add("new", 1, 500);
    lru.add("old", 1, 10);
    assertEquals(List.of("old", "new"), lru.keysInOrder());
  }

  @Test
  void heldEntriesAreSkippedOnceAndMovedToTheBack() {
    add("a", 10);
    add("b", 10);
    add("c", 10);
    add("d", 10);
    java.util.List<String> tested = new java.util.ArrayList<>();
    List<String> out = lru.victims(15, k -> false, k -> {
      tested.add(k);
      return k.equals("a") || k.equals("b");
    }, k -> Long.MIN_VALUE);
    assertEquals(List.of("c", "d"), out);
    assertEquals(List.of("a", "b", "c", "d"), tested);
    assertEquals(List.of("a", "b"), lru.keysInOrder());
    add("e", 10);
    assertEquals(List.of("a", "b", "e"), lru.keysInOrder());
    assertEquals(List.of(), lru.victims(100, k -> false, k -> true, k -> Long.MIN_VALUE), "all held: nothing, and it ends");
    assertEquals(List.of("a", "b", "e"), lru.keysInOrder());
  }
}
