package io.modelcache.safetensors;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A parsed safetensors header: 8-byte little-endian length N, N bytes of JSON, then the data from
 * {@code dataStart = 8 + N}. Tensors keep header order; {@link #loaderOrder()} gives the order loaders
 * touch them. Immutable.
 */
public record SafetensorsHeader(List<Tensor> tensors, Map<String, String> metadata, long dataStart) {
  /** Headers at or above this size are refused. */
  public static final long MAX_HEADER = 100_000_000L;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern LAYER = Pattern.compile("(?:^|\\.)(?:layers|h|blocks|layer)\\.(\\d+)\\.");

  public SafetensorsHeader {
    tensors = List.copyOf(tensors);
    metadata = Map.copyOf(metadata);
  }

  /**
   * One tensor. {@code begin}/{@code end} are relative to the data start, as in the header;
   * {@code fileBegin}/{@code fileEnd} are absolute file offsets.
   */
  public record Tensor(String name, String dtype, List<Long> shape, long begin, long end, long fileBegin, long fileEnd) {
    public Tensor {
      shape = List.copyOf(shape);
    }

    public long length() {
      return end - begin;
    }
  }

  /** The header length N from the first 8 bytes (unsigned little-endian; huge values come back negative). */
  public static long readHeaderLength(byte[] first8) {
    return ByteBuffer.wrap(first8, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  /** Parses from bytes starting at file offset 0 (at least 8 + N of them) of a file of {@code fileSize} bytes. */
  public static SafetensorsHeader parse(byte[] bytes, long fileSize) throws SafetensorsFormatException {
    return parse(ByteBuffer.wrap(bytes), fileSize);
  }

  /** Parses a whole file held in memory. */
  public static SafetensorsHeader parse(byte[] wholeFile) throws SafetensorsFormatException {
    return parse(wholeFile, wholeFile.length);
  }

  /** Parses from {@code buf}'s position (file offset 0); the buffer's position is not changed. */
  public static SafetensorsHeader parse(ByteBuffer buf, long fileSize) throws SafetensorsFormatException {
    ByteBuffer b = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    if (b.remaining() < 8 || fileSize < 8) {
      throw new SafetensorsFormatException("file shorter than the 8-byte header length");
    }
    long n = b.getLong();
    if (n < 0 || n >= MAX_HEADER) {
      throw new SafetensorsFormatException("header length " + Long.toUnsignedString(n) + " is over the 100 MB limit");
    }
    if (8 + n > fileSize) {
      throw new SafetensorsFormatException("header length " + n + " runs past the end of the " + fileSize + "-byte file");
    }
    if (b.remaining() < n) {
      throw new SafetensorsFormatException("need " + (8 + n) + " bytes to parse the header, got " + (b.remaining() + 8));
    }
    byte[] json = new byte[(int) n];
    b.get(json);
    long dataStart = 8 + n;
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JacksonException e) {
      String m = e.getOriginalMessage();
      throw new SafetensorsFormatException("header is not JSON (" + (m == null ? "" : m.split("\n", 2)[0]) + ")");
    } catch (IOException e) {
      throw new SafetensorsFormatException("header is not JSON");
    }
    if (root == null || !root.isObject()) {
      throw new SafetensorsFormatException("header is not a JSON object");
    }
    Map<String, String> meta = new LinkedHashMap<>();
    List<Tensor> tensors = new ArrayList<>();
    long dataLen = fileSize - dataStart;
    for (Map.Entry<String, JsonNode> e : root.properties()) {
      String name = e.getKey();
      JsonNode t = e.getValue();
      if (name.equals("__metadata__")) {
        if (!t.isObject()) {
          throw new SafetensorsFormatException("__metadata__ is not an object");
        }
        for (Map.Entry<String, JsonNode> m : t.properties()) {
          if (!m.getValue().isTextual()) {
            throw new SafetensorsFormatException("__metadata__ value '" + m.getKey() + "' is not a string");
          }
          meta.put(m.getKey(), m.getValue().asText());
        }
        continue;
      }
      String dtype = t.path("dtype").asText(null);
      Integer bits = dtype == null ? null : DType.BITS.get(dtype);
      if (bits == null) {
        throw new SafetensorsFormatException("tensor '" + name + "' has unknown dtype " + dtype);
      }
      JsonNode sh = t.path("shape");
      JsonNode off = t.path("data_offsets");
      if (!sh.isArray() || !off.isArray() || off.size() != 2) {
        throw new SafetensorsFormatException("tensor '" + name + "' lacks shape or data_offsets");
      }
      List<Long> shape = new ArrayList<>();
      long numel = 1;
      for (JsonNode d : sh) {
        if (!d.canConvertToLong() || d.asLong() < 0) {
          throw new SafetensorsFormatException("tensor '" + name + "' has an invalid shape");
        }
        shape.add(d.asLong());
        numel = Math.multiplyHigh(numel, d.asLong()) != 0 ? -1 : numel * d.asLong();
        if (numel < 0) {
          throw new SafetensorsFormatException("tensor '" + name + "' shape overflows");
        }
      }
      long begin = off.get(0).asLong(-1);
      long end = off.get(1).asLong(-1);
      if (begin < 0 || end < begin || end > dataLen) {
        throw new SafetensorsFormatException("tensor '" + name + "' offsets [" + off.get(0) + ", " + off.get(1)
            + "] are outside the " + dataLen + "-byte data section");
      }
      long expected = numel > Long.MAX_VALUE / bits ? -1 : (numel * bits + 7) / 8;
      if (expected != end - begin) {
        throw new SafetensorsFormatException("tensor '" + name + "' is " + (end - begin) + " bytes but " + dtype
            + " " + shape + " needs " + expected);
      }
      tensors.add(new Tensor(name, dtype, shape, begin, end, dataStart + begin, dataStart + end));
    }
    return new SafetensorsHeader(tensors, meta, dataStart);
  }

  /** The tensor named {@code name}, or null. */
  public Tensor tensor(String name) {
    for (Tensor t : tensors) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    return null;
  }

  /**
   * The order loaders touch tensors: embeddings, then {@code model.layers.N} in N order, then the
   * final norm and other tensors, then {@code lm_head}; ties by file offset.
   */
  public List<Tensor> loaderOrder() {
    List<Tensor> out = new ArrayList<>(tensors);
    out.sort(Comparator.comparingInt((Tensor t) -> rank(t.name()))
        .thenComparingLong(t -> layerOf(t.name()))
        .thenComparingLong(Tensor::fileBegin));
    return out;
  }

  /** Loader rank of a tensor name: embeddings 0, layers 1, other tensors (final norm) 2, lm_head 3. */
  public static int rank(String name) {
    if (layerOf(name) >= 0) {
      return 1;
    }
    if (name.contains("embed") || name.contains("wte") || name.contains("wpe")) {
      return 0;
    }
    if (name.startsWith("lm_head") || name.contains(".lm_head")) {
      return 3;
    }
    return 2;
  }

  /** The layer index in a name such as {@code model.layers.12.mlp.up_proj.weight}, or -1. */
  public static long layerOf(String name) {
    Matcher m = LAYER.matcher(name);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }
}
