package io.modelcache.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir Path tmp;

  static byte[] file(String json, int dataBytes) {
    byte[] h = json.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    return b.array();
  }

  @Test
  void parsesTensorsMetadataAndOffsets() throws Exception {
    String json = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
        + "\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}  ";
    byte[] f = file(json, 22);
    assertEquals(json.length(), SafetensorsHeader.readHeaderLength(f));
    SafetensorsHeader h = SafetensorsHeader.parse(f);
    assertEquals(8 + json.length(), h.dataStart());
    assertEquals("pt", h.metadata().get("format"));
    assertEquals(2, h.tensors().size());
    SafetensorsHeader.Tensor a = h.tensor("a");
    assertEquals("BF16", a.dtype());
    assertEquals(List.of(3L), a.shape());
    assertEquals(16, a.begin());
    assertEquals(22, a.end());
    assertEquals(h.dataStart() + 16, a.fileBegin());
    assertEquals(h.dataStart() + 22, a.fileEnd());
  }

  @Test
  void malformed() {
    assertEquals("malformed safetensors: file shorter than the 8-byte header length",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(new byte[4])).getMessage());
    byte[] huge = new byte[16];
    ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L);
    assertEquals("malformed safetensors: header length 200000000 is over the 100 MB limit",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(huge)).getMessage());
    byte[] past = new byte[16];
    ByteBuffer.wrap(past).order(ByteOrder.LITTLE_ENDIAN).putLong(100);
    assertEquals("malformed safetensors: header length 100 runs past the end of the 16-byte file",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(past)).getMessage());
    byte[] outside = file("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 2);
    assertEquals("malformed safetensors: tensor 'a' offsets [0, 4] are outside the 2-byte data section",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(outside)).getMessage());
    byte[] wrongLen = file("{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
    assertEquals("malformed safetensors: tensor 'a' is 4 bytes but F16 [4] needs 8",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(wrongLen)).getMessage());
    byte[] dtype = file("{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
    assertEquals("malformed safetensors: tensor 'a' has unknown dtype Q9",
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(dtype)).getMessage());
    byte[] notJson = file("{nope", 0);
    assertTrue(assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.parse(notJson)).getMessage()
        .startsWith("malformed safetensors: header is not JSON ("));
  }

  @Test
  void loaderOrder() throws Exception {
    String json = "{\"lm_head.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        + "\"model.layers.10.mlp.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
        + "\"model.layers.2.mlp.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
        + "\"model.norm.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]},"
        + "\"model.embed_tokens.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[4,5]},"
        + "\"model.layers.2.attn.weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]}}";
    SafetensorsHeader h = SafetensorsHeader.parse(file(json, 6));
    assertEquals(List.of("model.embed_tokens.weight", "model.layers.2.mlp.weight", "model.layers.2.attn.weight",
        "model.layers.10.mlp.weight", "model.norm.weight", "lm_head.weight"),
        h.loaderOrder().stream().map(SafetensorsHeader.Tensor::name).toList());
  }

  static TreeMap<String, String> hashes(Path dir) throws Exception {
    TreeMap<String, String> m = new TreeMap<>();
    try (var s = Files.list(dir)) {
      for (Path p : s.toList()) {
        m.put(p.getFileName().toString(), HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(p))));
      }
    }
    return m;
  }

  @Test
  void generatorIsDeterministicAndValid() throws Exception {
    SyntheticModel.Spec spec = new SyntheticModel.Spec(4L << 20, 3, "BF16", 3, 7);
    SyntheticModel.Result r = SyntheticModel.generate(tmp.resolve("a"), spec);
    SyntheticModel.generate(tmp.resolve("b"), spec);
    assertEquals(hashes(tmp.resolve("a")), hashes(tmp.resolve("b")));
    SyntheticModel.generate(tmp.resolve("c"), new SyntheticModel.Spec(4L << 20, 3, "BF16", 3, 8));
    assertTrue(!hashes(tmp.resolve("a")).get(SyntheticModel.shardName(0, 3))
        .equals(hashes(tmp.resolve("c")).get(SyntheticModel.shardName(0, 3))));
    assertEquals(List.of("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
        "tokenizer_config.json", "README.md"), r.files());
    assertTrue(Math.abs(r.tensorBytes() - (4L << 20)) < (4L << 20) / 10, "about the requested size: " + r.tensorBytes());
    JsonNode idx = new ObjectMapper().readTree(tmp.resolve("a/model.safetensors.index.json").toFile());
    assertEquals(r.tensorBytes(), idx.path("metadata").path("total_size").asLong());
    long sum = 0;
    int tensors = 0;
    for (int s = 0; s < 3; s++) {
      byte[] f = Files.readAllBytes(tmp.resolve("a").resolve(SyntheticModel.shardName(s, 3)));
      SafetensorsHeader h = SafetensorsHeader.parse(f);
      assertEquals(0, h.dataStart() % 8);
      for (SafetensorsHeader.Tensor t : h.tensors()) {
        assertEquals(SyntheticModel.shardName(s, 3), idx.path("weight_map").path(t.name()).asText());
        sum += t.length();
        tensors++;
      }
      assertEquals(f.length, h.tensors().stream().mapToLong(SafetensorsHeader.Tensor::fileEnd).max().orElseThrow());
    }
    assertEquals(r.tensorBytes(), sum);
    assertEquals(2 + 3 * 9 + 1, tensors);
    assertEquals(64L << 20, SyntheticModel.parseSize("64M"));
    assertEquals(2L << 30, SyntheticModel.parseSize("2GiB"));
  }
}
