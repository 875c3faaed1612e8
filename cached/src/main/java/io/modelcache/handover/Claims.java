package io.modelcache.handover;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The holder's grace policy, without I/O or a clock of its own (times are nanoTime values the
 * caller passes). Every held name is claimed by the daemon connections (sessions) that put it or
 * took it back. When the last of them closes (the daemon stopped or died) the name is orphaned at
 * that moment; a session that takes it back within {@code grace} claims it again, and a name
 * orphaned for {@code grace} or longer is {@linkplain #expired expired}: the holder aborts it so that
 * nobody waits forever on a connection no daemon will serve. Not thread-safe: the holder's one
 * thread owns it.
 */
final class Claims {
  private final long graceNanos;
  private final Map<String, Set<Long>> claimedBy = new LinkedHashMap<>();
  private final Map<String, Long> orphanedAt = new LinkedHashMap<>();

  Claims(Duration grace) {
    if (grace.isNegative()) {
      throw new IllegalArgumentException("negative grace " + grace);
    }
    this.graceNanos = grace.toNanos();
  }

  /** {@code session} put or took back {@code name}: it is claimed (again). */
  void claim(String name, long session) {
    claimedBy.computeIfAbsent(name, n -> new HashSet<>()).add(session);
    orphanedAt.remove(name);
  }

  /** {@code name} is no longer held (dropped or aborted). */
  void forget(String name) {
    claimedBy.remove(name);
    orphanedAt.remove(name);
  }

  /** {@code session} closed at {@code now}: what only it claimed is orphaned from now. */
  void sessionClosed(long session, long now) {
    for (Map.Entry<String, Set<Long>> e : claimedBy.entrySet()) {
      if (e.getValue().remove(session) && e.getValue().isEmpty()) {
        orphanedAt.put(e.getKey(), now);
      }
    }
  }

  /** The names orphaned for at least the grace period at {@code now}, oldest first. */
  List<String> expired(long now) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, Long> e : orphanedAt.entrySet()) {
      if (now - e.getValue() >= graceNanos) {
        out.add(e.getKey());
      }
    }
    return out;
  }

  /** Nanoseconds from {@code now} until the next name expires (0 if one already has), or -1 if none will. */
  long nanosUntilNextExpiry(long now) {
    long best = -1;
    for (long at : orphanedAt.values()) {
      long left = Math.max(0, at + graceNanos - now);
      if (best < 0 || left < best) {
        best = left;
      }
    }
    return best;
  }

  /** Whether {@code name} is held and no session claims it. */
  boolean isOrphaned(String name) {
    return orphanedAt.containsKey(name);
  }

  boolean isEmpty() {
    return claimedBy.isEmpty();
  }
}
