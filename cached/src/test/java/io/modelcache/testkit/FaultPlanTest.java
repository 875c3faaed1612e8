package io.modelcache.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.testkit.FaultPlan.Fault;
import io.modelcache.testkit.FaultPlan.Kind;
import io.modelcache.testkit.FaultPlan.Request;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FaultPlanTest {
  static List<Fault> first(FaultPlan p, int n) {
    List<Fault> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(p.decide(i));
    }
    return out;
  }

  @Test
  void theSameSeedReplaysTheSameFaults() {
    FaultPlan p = FaultPlan.seeded(7).withResets(0.2).withServerErrors(0.1).withFlips(0.3);
    assertEquals(first(p, 500), first(FaultPlan.seeded(7).withResets(0.2).withServerErrors(0.1).withFlips(0.3), 500));
    assertNotEquals(first(p, 500), first(FaultPlan.seeded(8).withResets(0.2).withServerErrors(0.1).withFlips(0.3), 500));
  }

  @Test
  void faultsComeAtTheirRates() {
    FaultPlan p = FaultPlan.seeded(11).withResets(0.2).withServerErrors(0.1).withFlips(0.3).withTruncations(0.05)
        .withSlowStarts(0.05, Duration.ofMillis(10));
    int n = 20_000;
    Map<Kind, Integer> counts = new EnumMap<>(Kind.class);
    for (Fault f : first(p, n)) {
      counts.merge(f.kind(), 1, Integer::sum);
    }
    Map<Kind, Double> want = Map.of(Kind.RESET, 0.2, Kind.SERVER_ERROR, 0.1, Kind.FLIP, 0.3, Kind.TRUNCATE, 0.05,
        Kind.SLOW_START, 0.05, Kind.NONE, 0.3);
    for (var e : want.entrySet()) {
      double got = counts.getOrDefault(e.getKey(), 0) / (double) n;
      assertTrue(Math.abs(got - e.getValue()) < 0.015, e.getKey() + ": " + got + " instead of " + e.getValue());
    }
  }

  @Test
  void noRatesNoFaults() {
    assertTrue(first(FaultPlan.seeded(3), 1000).stream().allMatch(f -> f.kind() == Kind.NONE));
    assertTrue(first(FaultPlan.seeded(3).withFlips(1), 1000).stream().allMatch(f -> f.kind() == Kind.FLIP));
  }

  @Test
  void aFaultStrikesInsideTheBodyAndFlipsOneBit() {
    FaultPlan p = FaultPlan.seeded(5).withFlips(1);
    for (Fault f : first(p, 2000)) {
      assertEquals(1, Integer.bitCount(f.mask()), "one bit: " + f);
      assertTrue(f.mask() < 256, f.toString());
      for (long len : new long[] {1, 2, 4096, 5_000_000}) {
        long at = f.offsetIn(len);
        assertTrue(at >= 0 && at < len, at + " in " + len);
      }
      assertEquals(0, f.offsetIn(0));
    }
  }

  @Test
  void badRatesAreRefused() {
    IllegalArgumentException sum = assertThrows(IllegalArgumentException.class,
        () -> FaultPlan.seeded(1).withResets(0.6).withFlips(0.5));
    assertTrue(sum.getMessage().startsWith("fault rates add up to 1.1"), sum.getMessage());
    assertThrows(IllegalArgumentException.class, () -> FaultPlan.seeded(1).withFlips(-0.1));
    assertThrows(IllegalArgumentException.class, () -> FaultPlan.seeded(1).withFlips(Double.NaN));
  }

  @Test
  void blobGetsAreTheDefaultTarget() {
    String d = "sha256:" + "ab".repeat(32);
    assertTrue(FaultPlan.BLOB_GETS.test(new Request("GET", "/v2/models/x/blobs/" + d)));
    assertTrue(FaultPlan.seeded(1).applies().test(new Request("GET", "/v2/a/b/c/blobs/" + d)));
    assertFalse(FaultPlan.BLOB_GETS.test(new Request("HEAD", "/v2/models/x/blobs/" + d)));
    assertFalse(FaultPlan.BLOB_GETS.test(new Request("GET", "/v2/models/x/manifests/v1")));
    assertFalse(FaultPlan.BLOB_GETS.test(new Request("POST", "/v2/models/x/blobs/uploads/")));
    assertFalse(FaultPlan.BLOB_GETS.test(new Request("GET", "/v2/")));
  }
}
