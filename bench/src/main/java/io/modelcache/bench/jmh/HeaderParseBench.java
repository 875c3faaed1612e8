package io.modelcache.bench.jmh;

import io.modelcache.safetensors.SafetensorsFormatException;
import io.modelcache.safetensors.SafetensorsHeader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Parsing a realistic safetensors header: 1000 tensors named like a 110-layer Llama shard
 * (9 tensors per layer plus embeddings, final norm and lm_head), BF16, about 110 KB of JSON. The
 * mount parses one header per shard on first access, so this bounds "time to headers" on the CPU side.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class HeaderParseBench {
  static final int TENSORS = 1000;
  byte[] file;
  long fileSize;

  @Setup
  public void setUp() throws SafetensorsFormatException {
    StringBuilder j = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
    long[] off = {0};
    int h = 8192;
    int inter = 28672;
    int n = 0;
    n += tensor(j, "model.embed_tokens.weight", off, 128256, h);
    String[][] perLayer = {
        {"input_layernorm.weight"}, {"self_attn.q_proj.weight", "q"}, {"self_attn.k_proj.weight", "kv"},
        {"self_attn.v_proj.weight", "kv"}, {"self_attn.o_proj.weight", "q"}, {"post_attention_layernorm.weight"},
        {"mlp.gate_proj.weight", "up"}, {"mlp.up_proj.weight", "up"}, {"mlp.down_proj.weight", "down"}};
    for (int layer = 0; n < TENSORS - 2; layer++) {
      for (String[] t : perLayer) {
        if (n >= TENSORS - 2) {
          break;
        }
        String name = "model.layers." + layer + "." + t[0];
        String kind = t.length > 1 ? t[1] : "norm";
        n += switch (kind) {
          case "q" -> tensor(j, name, off, h, h);
          case "kv" -> tensor(j, name, off, 1024, h);
          case "up" -> tensor(j, name, off, inter, h);
          case "down" -> tensor(j, name, off, h, inter);
          default -> tensor(j, name, off, h);
        };
      }
    }
    n += tensor(j, "model.norm.weight", off, h);
    n += tensor(j, "lm_head.weight", off, 128256, h);
    j.append('}');
    byte[] json = j.toString().getBytes(StandardCharsets.UTF_8);
    file = new byte[8 + json.length];
    ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json);
    fileSize = 8L + json.length + off[0]; // the data section is not in memory: parsing never reads it
    int parsed = SafetensorsHeader.parse(file, fileSize).tensors().size();
    if (parsed != TENSORS || n != TENSORS) {
      throw new IllegalStateException("built " + n + " tensors, parsed " + parsed);
    }
  }

  private static int tensor(StringBuilder j, String name, long[] off, long... shape) {
    long bytes = 2;
    StringBuilder s = new StringBuilder();
    for (long d : shape) {
      bytes *= d;
      s.append(s.isEmpty() ? "" : ",").append(d);
    }
    j.append(",\"").append(name).append("\":{\"dtype\":\"BF16\",\"shape\":[").append(s)
        .append("],\"data_offsets\":[").append(off[0]).append(',').append(off[0] + bytes).append("]}");
    off[0] += bytes;
    return 1;
  }

  @Benchmark
  public SafetensorsHeader parse() throws SafetensorsFormatException {
    return SafetensorsHeader.parse(file, fileSize);
  }

  @Benchmark
  public List<SafetensorsHeader.Tensor> parseAndLoaderOrder() throws SafetensorsFormatException {
    return SafetensorsHeader.parse(file, fileSize).loaderOrder();
  }
}
