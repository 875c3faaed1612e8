package io.modelcache.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuUseTest {
  @Test
  void splitsThreadGroupsIntoThePartsInTheirOrder() {
    Map<String, Double> groups = new java.util.LinkedHashMap<>();
    groups.put("modelcache-fuse-N", 2.0);
    groups.put("C2 CompilerThreN", 0.75);
    groups.put("modelcache-fetc", 1.5);
    groups.put("C1 CompilerThreN", 0.25);
    groups.put("modelcache-http-N", 0.5);
    groups.put("GC Thread#N", 0.125);
    groups.put("(threads that ended in the window)", 0.375);
    Map<String, Double> parts = CpuUse.split(groups);
    assertEquals(List.of("fetch", "netty", "fuse", "jit", "other"), List.copyOf(parts.keySet()));
    assertEquals(List.of(1.5, 0.5, 2.0, 1.0, 0.5), List.copyOf(parts.values()));
  }

  @Test
  void partsThatRanNothingAreZero() {
    assertEquals(Map.of("fetch", 0.0, "netty", 0.0, "fuse", 0.0, "jit", 0.0, "other", 0.25),
        CpuUse.split(Map.of("(threads that ended in the window)", 0.25)));
  }
}
