package io.modelcache.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BenchDaemonTest {
  private static final String METRICS = """
      # HELP modelcache_fuse_operation_seconds FUSE operations
      modelcache_fuse_operation_seconds_count{op="getattr"} 3
      modelcache_fuse_operation_seconds_count{op="read"} 1026
      modelcache_fuse_operation_seconds_sum{op="read"} 7.5
      modelcache_fetch_duration_seconds_count 34
      jvm_memory_used_bytes{area="heap",id="G1 Eden Space"} 1.048576E7
      jvm_memory_used_bytes{area="heap",id="G1 Old Gen"} 2097152.0
      jvm_memory_used_bytes{area="nonheap",id="Metaspace"} 9.9E7
      """;

  @Test
  void sumsSamplesByNameAndLabel() {
    assertEquals(1026, BenchDaemon.sum(METRICS, "modelcache_fuse_operation_seconds_count", "op=\"read\""));
    assertEquals(1029, BenchDaemon.sum(METRICS, "modelcache_fuse_operation_seconds_count", ""));
    assertEquals(34, BenchDaemon.sum(METRICS, "modelcache_fetch_duration_seconds_count", ""));
    assertEquals(12582912, BenchDaemon.sum(METRICS, "jvm_memory_used_bytes", "area=\"heap\""));
    assertEquals(0, BenchDaemon.sum(METRICS, "modelcache_fetch_duration_seconds", ""));
  }
}
