package io.modelcache.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ThreadCpuTest {
  @Test
  void groupsThreadsByNameWithoutDigitsLargestFirst() {
    var before = Map.of(
        1L, new ThreadCpu.Sample("C2 CompilerThre0", 5.0),
        2L, new ThreadCpu.Sample("C2 CompilerThre1", 1.0),
        3L, new ThreadCpu.Sample("modelcache-fuse-3", 0.5),
        4L, new ThreadCpu.Sample("gone", 2.0));
    var after = Map.of(
        1L, new ThreadCpu.Sample("C2 CompilerThre0", 5.5),
        2L, new ThreadCpu.Sample("C2 CompilerThre1", 1.25),
        3L, new ThreadCpu.Sample("modelcache-fuse-3", 2.5),
        5L, new ThreadCpu.Sample("modelcache-fuse-9", 0.25));
    Map<String, Double> g = ThreadCpu.between(before, after, 4.0);
    assertEquals(List.of("modelcache-fuse-N", "C2 CompilerThreN", "(threads that ended in the window)"),
        List.copyOf(g.keySet()));
    assertEquals(2.25, g.get("modelcache-fuse-N"), 1e-9);
    assertEquals(0.75, g.get("C2 CompilerThreN"), 1e-9);
    assertEquals(1.0, g.get("(threads that ended in the window)"), 1e-9);
  }

  @Test
  void reportsThisProcessesOwnThreads() throws Exception {
    var s = ThreadCpu.snapshot(ProcessHandle.current().pid());
    assertTrue(s.values().stream().anyMatch(t -> t.name().startsWith("C2 Compiler") || t.name().startsWith("C1 Compiler")),
        "the JIT threads are listed: " + s.values());
  }
}
