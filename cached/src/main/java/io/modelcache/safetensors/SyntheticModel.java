package io.modelcache.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Writes a deterministic, Llama-shaped model directory: sharded safetensors with realistic tensor
 * names and pseudo-random data, {@code model.safetensors.index.json}, {@code config.json},
 * {@code generation_config.json}, {@code tokenizer_config.json} and a README. The same spec always
 * produces byte-identical files (file mtimes aside). Tensor data comes from a seeded
 * {@link SplittableRandom} filling a large buffer, so it writes at disk speed.
 */
public final class SyntheticModel {
  private SyntheticModel() {}

  /** What to generate. {@code dtype} is BF16, F16 or F32. */
  public record Spec(long totalBytes, int shards, String dtype, int layers, long seed) {
    public Spec {
      if (totalBytes < 1 << 16) {
        throw new IllegalArgumentException("size must be at least 64K");
      }
      if (shards < 1 || shards > 99_999) {
        throw new IllegalArgumentException("shards must be between 1 and 99999");
      }
      if (layers < 1) {
        throw new IllegalArgumentException("layers must be at least 1");
      }
      dtype = dtype.toUpperCase(Locale.ROOT);
      if (!dtype.equals("BF16") && !dtype.equals("F16") && !dtype.equals("F32")) {
        throw new IllegalArgumentException("dtype must be BF16, F16 or F32, not " + dtype);
      }
    }

    /** BF16, 4 layers, seed 42. */
    public static Spec of(long totalBytes, int shards) {
      return new Spec(totalBytes, shards, "BF16", 4, 42);
    }
  }

  /** One planned tensor. */
  record Planned(String name, long[] shape, long bytes) {}

  /** What was written: files relative to the directory, and the tensor bytes in total. */
  public record Result(List<String> files, long tensorBytes, int hiddenSize, int vocabSize) {}

  /** Parses sizes like {@code 64M}, {@code 1G}, {@code 512K}, {@code 1000} (binary units). */
  public static long parseSize(String s) {
    String t = s.trim().toUpperCase(Locale.ROOT);
    if (t.endsWith("IB")) {
      t = t.substring(0, t.length() - 2);
    } else if (t.endsWith("B") && t.length() > 1 && !Character.isDigit(t.charAt(t.length() - 2))) {
      t = t.substring(0, t.length() - 1);
    }
    long mul = 1;
    char last = t.isEmpty() ? ' ' : t.charAt(t.length() - 1);
    switch (last) {
      case 'K' -> mul = 1L << 10;
      case 'M' -> mul = 1L << 20;
      case 'G' -> mul = 1L << 30;
      case 'T' -> mul = 1L << 40;
      default -> { }
    }
    if (mul != 1) {
      t = t.substring(0, t.length() - 1);
    }
    try {
      return Math.multiplyExact(Long.parseLong(t), mul);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid size '" + s + "' (expected e.g. 64M, 2G)");
    }
  }

  static int elementBytes(String dtype) {
    return dtype.equals("F32") ? 4 : 2;
  }

  /** Tensors in model order, sized so their total is close to {@code spec.totalBytes()}. */
  static List<Planned> plan(Spec spec) {
    int eb = elementBytes(spec.dtype());
    long params = spec.totalBytes() / eb;
    int l = spec.layers();
    // Per layer: q,k,v,o = 4h^2, mlp = 3*h*(3h) = 9h^2; plus embeddings and lm_head with vocab ~4h.
    long h = (long) Math.sqrt((double) params / (13.0 * l + 8.0));
    h = Math.max(64, h / 64 * 64);
    long inter = h * 3;
    long perLayer = 4 * h * h + 3 * h * inter + 2 * h;
    long rest = params - l * perLayer - h;
    long vocab = Math.max(64, rest / (2 * h));
    List<Planned> out = new ArrayList<>();
    out.add(t("model.embed_tokens.weight", eb, vocab, h));
    for (int i = 0; i < l; i++) {
      String p = "model.layers." + i + ".";
      out.add(t(p + "input_layernorm.weight", eb, h));
      out.add(t(p + "self_attn.q_proj.weight", eb, h, h));
      out.add(t(p + "self_attn.k_proj.weight", eb, h, h));
      out.add(t(p + "self_attn.v_proj.weight", eb, h, h));
      out.add(t(p + "self_attn.o_proj.weight", eb, h, h));
      out.add(t(p + "post_attention_layernorm.weight", eb, h));
      out.add(t(p + "mlp.gate_proj.weight", eb, inter, h));
      out.add(t(p + "mlp.up_proj.weight", eb, inter, h));
      out.add(t(p + "mlp.down_proj.weight", eb, h, inter));
    }
    out.add(t("model.norm.weight", eb, h));
    out.add(t("lm_head.weight", eb, vocab, h));
    return out;
  }

  private static Planned t(String name, int eb, long... shape) {
    long n = eb;
    for (long d : shape) {
      n *= d;
    }
    return new Planned(name, shape, n);
  }

  public static String shardName(int index, int count) {
    return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", index + 1, count);
  }

  /** Generates the model into {@code dir} (created if missing; existing files are overwritten). */
  public static Result generate(Path dir, Spec spec) throws IOException {
    Files.createDirectories(dir);
    List<Planned> plan = plan(spec);
    if (plan.size() < spec.shards()) {
      throw new IllegalArgumentException("only " + plan.size() + " tensors for " + spec.shards() + " shards");
    }
    long total = plan.stream().mapToLong(Planned::bytes).sum();
    // Split in model order into shards of about equal size, at least one tensor each.
    List<List<Planned>> shards = new ArrayList<>();
    int idx = 0;
    long done = 0;
    for (int s = 0; s < spec.shards(); s++) {
      List<Planned> cur = new ArrayList<>();
      long target = total * (s + 1) / spec.shards();
      int mustLeave = spec.shards() - s - 1;
      while (idx < plan.size() - mustLeave && (cur.isEmpty() || done + plan.get(idx).bytes() / 2 <= target
          || s == spec.shards() - 1)) {
        done += plan.get(idx).bytes();
        cur.add(plan.get(idx++));
      }
      shards.add(cur);
    }
    List<String> files = new ArrayList<>();
    TreeMap<String, String> weightMap = new TreeMap<>();
    for (int s = 0; s < shards.size(); s++) {
      String name = shardName(s, shards.size());
      writeShard(dir.resolve(name), shards.get(s), spec.dtype(), spec.seed() * 1_000_003L + s);
      for (Planned p : shards.get(s)) {
        weightMap.put(p.name(), name);
      }
      files.add(name);
    }
    StringBuilder idxJson = new StringBuilder("{\n  \"metadata\": {\n    \"total_size\": ").append(total)
        .append("\n  },\n  \"weight_map\": {");
    boolean first = true;
    for (var e : weightMap.entrySet()) {
      idxJson.append(first ? "\n" : ",\n").append("    \"").append(e.getKey()).append("\": \"")
          .append(e.getValue()).append('"');
      first = false;
    }
    idxJson.append("\n  }\n}\n");
    write(dir, files, "model.safetensors.index.json", idxJson.toString());
    long h = plan.get(1).shape()[0];
    long vocab = plan.get(0).shape()[0];
    long inter = plan.get(7).shape()[0];
    String torchDtype = switch (spec.dtype()) {
      case "F16" -> "float16";
      case "F32" -> "float32";
      default -> "bfloat16";
    };
    write(dir, files, "config.json", """
        {
          "architectures": ["LlamaForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": %d,
          "intermediate_size": %d,
          "max_position_embeddings": 4096,
          "model_type": "llama",
          "num_attention_heads": %d,
          "num_hidden_layers": %d,
          "num_key_value_heads": %d,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "%s",
          "transformers_version": "4.46.0",
          "vocab_size": %d
        }
        """.formatted(h, inter, h / 64, spec.layers(), h / 64, torchDtype, vocab));
    write(dir, files, "generation_config.json", """
        {
          "bos_token_id": 1,
          "eos_token_id": 2,
          "max_new_tokens": 256,
          "temperature": 0.7,
          "top_p": 0.9
        }
        """);
    write(dir, files, "tokenizer_config.json", """
        {
          "add_bos_token": true,
          "bos_token": "<s>",
          "eos_token": "</s>",
          "model_max_length": 4096,
          "tokenizer_class": "LlamaTokenizer",
          "unk_token": "<unk>"
        }
        """);
    write(dir, files, "README.md", """
        # Synthetic model (seed %d)

        Generated by ModelCache for tests and demos: %d layers, hidden size %d, vocabulary %d,
        %s, %d shard(s), %d bytes of tensors. The weights are pseudo-random and mean nothing.
        """.formatted(spec.seed(), spec.layers(), h, vocab, spec.dtype(), shards.size(), total));
    return new Result(List.copyOf(files), total, (int) h, (int) vocab);
  }

  private static void write(Path dir, List<String> files, String name, String text) throws IOException {
    Files.writeString(dir.resolve(name), text, StandardCharsets.UTF_8);
    files.add(name);
  }

  /** Header in file order sorted by name (as Python's safetensors writes it), 8-byte aligned with spaces. */
  private static void writeShard(Path file, List<Planned> tensors, String dtype, long seed) throws IOException {
    List<Planned> sorted = new ArrayList<>(tensors);
    sorted.sort((a, b) -> a.name().compareTo(b.name()));
    StringBuilder json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
    long off = 0;
    for (Planned p : sorted) {
      json.append(",\"").append(p.name()).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[");
      for (int i = 0; i < p.shape().length; i++) {
        json.append(i == 0 ? "" : ",").append(p.shape()[i]);
      }
      json.append("],\"data_offsets\":[").append(off).append(',').append(off + p.bytes()).append("]}");
      off += p.bytes();
    }
    json.append('}');
    while ((json.length() + 8) % 8 != 0) {
      json.append(' ');
    }
    byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer lead = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
      lead.putLong(header.length).put(header).flip();
      while (lead.hasRemaining()) {
        ch.write(lead);
      }
      SplittableRandom rnd = new SplittableRandom(seed);
      long keep = keepMask(dtype);
      long set = setMask(dtype);
      ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
      long left = off;
      while (left > 0) {
        buf.clear();
        int n = (int) Math.min(buf.capacity(), left);
        int longs = n / 8;
        for (int i = 0; i < longs; i++) {
          buf.putLong(rnd.nextLong() & keep | set);
        }
        long tail = rnd.nextLong() & keep | set;
        for (int i = longs * 8; i < n; i++) {
          buf.put((byte) tail);
          tail >>>= 8;
        }
        buf.flip();
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        left -= n;
      }
    }
  }

  /**
   * Random sign and mantissa, but an exponent held to 2^-7..2^-4, so values look like trained weights
   * (|w| of about 0.01 to 0.2) rather than random bit patterns: a loader printing a tensor shows
   * plausible numbers, and no NaN or infinity appears.
   */
  private static long keepMask(String dtype) {
    return switch (dtype) {
      case "F16" -> 0x8FFF8FFF8FFF8FFFL; // sign, 2 low exponent bits, 10 mantissa bits
      case "F32" -> 0x81FFFFFF81FFFFFFL; // sign, 2 low exponent bits, 23 mantissa bits
      default -> 0x81FF81FF81FF81FFL; // BF16: sign, 2 low exponent bits, 7 mantissa bits
    };
  }

  private static long setMask(String dtype) {
    return switch (dtype) {
      case "F16" -> 0x2000200020002000L; // exponent 010xx (bias 15)
      case "F32" -> 0x3C0000003C000000L; // exponent 011110xx (bias 127)
      default -> 0x3C003C003C003C00L; // BF16: exponent 011110xx (bias 127)
    };
  }

  /**
   * {@code DIR [--size 64M] [--shards 2] [--dtype BF16] [--layers 4] [--seed 42]}; what
   * {@code modelcache gen-model} runs.
   */
  public static void main(String[] args) throws IOException {
    Result r = run(args);
    System.out.println("wrote " + r.files().size() + " files, " + r.tensorBytes() + " bytes of tensors");
  }

  /** Parses {@link #main} arguments and generates. */
  public static Result run(String[] args) throws IOException {
    Path dir = null;
    long size = 64L << 20;
    int shards = 2;
    int layers = 4;
    long seed = 42;
    String dtype = "BF16";
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.startsWith("--") && i + 1 >= args.length) {
        throw new IllegalArgumentException("missing value for " + a);
      }
      switch (a) {
        case "--size" -> size = parseSize(args[++i]);
        case "--shards" -> shards = Integer.parseInt(args[++i]);
        case "--layers" -> layers = Integer.parseInt(args[++i]);
        case "--seed" -> seed = Long.parseLong(args[++i]);
        case "--dtype" -> dtype = args[++i];
        default -> {
          if (a.startsWith("--") || dir != null) {
            throw new IllegalArgumentException("unexpected argument " + a);
          }
          dir = Path.of(a);
        }
      }
    }
    if (dir == null) {
      throw new IllegalArgumentException("usage: gen-model DIR [--size 64M] [--shards 2] [--dtype BF16] [--layers 4] [--seed 42]");
    }
    return generate(dir, new Spec(size, shards, dtype, layers, seed));
  }
}
