package io.modelcache.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.safetensors.SafetensorsHeader;
import io.modelcache.safetensors.SafetensorsHeader.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReadPlannerTest {
  /** A header whose tensors lie back to back in the given (file) order, each {@code size} bytes. */
  static SafetensorsHeader header(long dataStart, long size, String... names) {
    List<Tensor> ts = new ArrayList<>();
    long at = 0;
    for (String n : names) {
      ts.add(new Tensor(n, "U8", List.of(size), at, at + size, dataStart + at, dataStart + at + size));
      at += size;
    }
    return new SafetensorsHeader(ts, Map.of(), dataStart);
  }

  static long fileSize(SafetensorsHeader h) {
    return h.tensors().stream().mapToLong(Tensor::fileEnd).max().orElse(h.dataStart());
  }

  static String describe(List<ReadPlan.Segment> segs) {
    StringBuilder sb = new StringBuilder();
    for (ReadPlan.Segment s : segs) {
      sb.append(s.path()).append('[').append(s.begin()).append(',').append(s.end()).append(") ");
    }
    return sb.toString().trim();
  }

  @Test
  void loaderOrderAcrossShardsFollowsTheIndex() {
    // shard b holds the embeddings and layer 0; shard a holds layer 1, the norm and lm_head
    SafetensorsHeader a = header(100, 10, "lm_head.weight", "model.layers.1.mlp.weight", "model.norm.weight");
    SafetensorsHeader b = header(50, 10, "model.layers.0.attn.weight", "model.embed_tokens.weight");
    Map<String, String> wm = new LinkedHashMap<>();
    wm.put("lm_head.weight", "a.safetensors");
    wm.put("model.layers.1.mlp.weight", "a.safetensors");
    wm.put("model.norm.weight", "a.safetensors");
    wm.put("model.layers.0.attn.weight", "b.safetensors");
    wm.put("model.embed_tokens.weight", "b.safetensors");
    ReadPlan p = ReadPlanner.plan(List.of(
        new ReadPlanner.FileInfo("a.safetensors", fileSize(a), a),
        new ReadPlanner.FileInfo("b.safetensors", fileSize(b), b),
        new ReadPlanner.FileInfo("config.json", 7, null),
        new ReadPlanner.FileInfo("README.md", 3, null)), wm);
    assertEquals("README.md[0,3) config.json[0,7) b.safetensors[0,50) a.safetensors[0,100) "
        + "b.safetensors[60,70) b.safetensors[50,60) a.safetensors[110,130) "
        + "a.safetensors[100,110)", describe(p.segments()));
    assertEquals(3 + 7 + 50 + 100 + 20 + 30, p.totalBytes());
    assertTrue(p.tensorLevel("a.safetensors"));
    // plan coordinates: contiguous, and position() inverts them
    long at = 0;
    for (ReadPlan.Segment s : p.segments()) {
      assertEquals(at, s.planOffset());
      assertEquals(at, p.position(s.path(), s.begin()));
      assertEquals(at + s.length() - 1, p.position(s.path(), s.end() - 1));
      at += s.length();
    }
    assertEquals(-1, p.position("a.safetensors", 130));
    assertEquals(-1, p.position("nope", 0));
  }

  @Test
  void withoutAnIndexShardsGoByPathAndTensorsByLayer() {
    SafetensorsHeader s1 = header(8, 4, "model.layers.2.w", "model.layers.0.w");
    SafetensorsHeader s2 = header(8, 4, "model.layers.1.w");
    ReadPlan p = ReadPlanner.plan(List.of(
        new ReadPlanner.FileInfo("m-00002.safetensors", fileSize(s2), s2),
        new ReadPlanner.FileInfo("m-00001.safetensors", fileSize(s1), s1)), null);
    assertEquals("m-00001.safetensors[0,8) m-00002.safetensors[0,8) m-00001.safetensors[12,16) "
        + "m-00002.safetensors[8,12) m-00001.safetensors[8,12)", describe(p.segments()));
  }

  @Test
  void malformedHeaderFileIsPlannedAsPlainBytesAfterTheParsedOnes() {
    SafetensorsHeader ok = header(8, 4, "model.layers.0.w");
    ReadPlan p = ReadPlanner.plan(List.of(
        new ReadPlanner.FileInfo("bad.safetensors", 1000, null),
        new ReadPlanner.FileInfo("ok.safetensors", fileSize(ok), ok),
        new ReadPlanner.FileInfo("big.bin", 100L << 20, null)), Map.of());
    assertEquals("ok.safetensors[0,12) bad.safetensors[0,1000) big.bin[0,104857600)", describe(p.segments()));
    assertTrue(!p.tensorLevel("bad.safetensors"));
  }

  @Test
  void unclaimedBytesAndOverlapsStillCoverTheFileExactlyOnce() {
    List<Tensor> ts = List.of(
        new Tensor("model.layers.1.w", "U8", List.of(10L), 20, 30, 28, 38),
        new Tensor("model.layers.0.w", "U8", List.of(10L), 0, 10, 8, 18),
        new Tensor("model.layers.0.dup", "U8", List.of(10L), 5, 15, 13, 23));
    SafetensorsHeader h = new SafetensorsHeader(ts, Map.of(), 8);
    ReadPlan p = ReadPlanner.plan(List.of(new ReadPlanner.FileInfo("x.safetensors", 50, h)), null);
    assertEquals("x.safetensors[0,23) x.safetensors[28,38) x.safetensors[23,28) x.safetensors[38,50)",
        describe(p.segments()));
    assertEquals(50, p.totalBytes());
  }

  @Test
  void rangeMapsPlanCoordinatesBackToFileRanges() {
    SafetensorsHeader s = header(10, 10, "model.layers.1.w", "model.layers.0.w");
    ReadPlan p = ReadPlanner.plan(List.of(new ReadPlanner.FileInfo("m.safetensors", 30, s)), null);
    // plan: m[0,10) m[20,30) m[10,20)
    assertEquals("m.safetensors[5,10) m.safetensors[20,30) m.safetensors[10,12)", describe(p.range(5, 22)));
    assertEquals(25, p.range(5, 22).get(2).planOffset() + 5);
    assertEquals("", describe(p.range(30, 40)));
  }

  @Test
  void requestsMergeTouchingSegmentsUpToTheLimit() {
    SafetensorsHeader s = header(8, 100, "model.embed.w", "model.layers.0.w", "model.layers.1.w", "lm_head.w");
    ReadPlan p = ReadPlanner.plan(List.of(new ReadPlanner.FileInfo("m.safetensors", 408, s),
        new ReadPlanner.FileInfo("tokenizer.json", 30, null)), null);
    assertEquals("tokenizer.json[0,30) m.safetensors[0,150) m.safetensors[150,300) m.safetensors[300,408)",
        describe(p.requests(150)));
  }

  @Test
  void parseIndexReadsTheWeightMapAndToleratesJunk() {
    Map<String, String> wm = ReadPlanner.parseIndex(
        "{\"metadata\":{\"total_size\":1},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}".getBytes());
    assertEquals(Map.of("a", "s1.safetensors", "b", "s2.safetensors"), wm);
    assertEquals(Map.of(), ReadPlanner.parseIndex("not json".getBytes()));
    assertEquals(Map.of(), ReadPlanner.parseIndex("[1]".getBytes()));
  }
}
