package io.modelcache.fetch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a {@link ReadPlan} from what a mount knows: file sizes, the parsed safetensors headers and
 * the shard index's {@code weight_map}. Pure (no I/O), so it is tested on made-up headers.
 *
 * <p>Order (why): loaders read the small config files first, then every shard's header
 * ({@code safe_open}), then tensors grouped by layer: embeddings, {@code layers.0..N}, the final
 * norm and the rest, {@code lm_head} (the order {@link SafetensorsHeader#loaderOrder()} uses), shard
 * by shard as the index orders them. Safetensors files whose header could not be parsed, bytes no
 * tensor claims, and large files of other kinds follow as plain byte ranges, so that every byte is
 * planned and a background fill driven by the plan reaches 100%.
 */
public final class ReadPlanner {
  /** Files below this size that are not safetensors (configs, tokenizers) go first. */
  static final long SMALL = 16L << 20;
  private static final ObjectMapper JSON = new ObjectMapper();

  private ReadPlanner() {}

  /** A mounted file: its relative path, size and, for a parsed safetensors file, its header. */
  public record FileInfo(String path, long size, SafetensorsHeader header) {}

  private record Piece(String path, long begin, long end, int rank, long layer, int shard) {}

  public static ReadPlan plan(List<FileInfo> files, Map<String, String> weightMap) {
    List<FileInfo> small = new ArrayList<>();
    List<FileInfo> parsed = new ArrayList<>();
    List<FileInfo> rest = new ArrayList<>();
    for (FileInfo f : files) {
      if (f.header() != null) {
        parsed.add(f);
      } else if (!isSafetensors(f.path()) && f.size() < SMALL) {
        small.add(f);
      } else {
        rest.add(f);
      }
    }
    small.sort(Comparator.comparing(FileInfo::path));
    rest.sort(Comparator.comparing(FileInfo::path));
    Map<String, Integer> shardPos = shardOrder(parsed, weightMap == null ? Map.of() : weightMap);
    parsed.sort(Comparator.comparingInt((FileInfo f) -> shardPos.get(f.path())));

    List<ReadPlan.Segment> out = new ArrayList<>();
    Map<String, Boolean> tensorLevel = new HashMap<>();
    long[] at = {0};
    for (FileInfo f : small) {
      add(out, at, f.path(), 0, f.size());
    }
    List<Piece> pieces = new ArrayList<>();
    List<Piece> gaps = new ArrayList<>();
    for (FileInfo f : parsed) {
      tensorLevel.put(f.path(), true);
      long dataStart = Math.min(f.size(), f.header().dataStart());
      add(out, at, f.path(), 0, dataStart);
      List<SafetensorsHeader.Tensor> ts = new ArrayList<>(f.header().tensors());
      ts.sort(Comparator.comparingLong(SafetensorsHeader.Tensor::fileBegin));
      long hw = dataStart;
      int shard = shardPos.get(f.path());
      for (SafetensorsHeader.Tensor t : ts) {
        long b = Math.max(hw, t.fileBegin());
        long e = Math.min(f.size(), t.fileEnd());
        if (b > hw) {
          gaps.add(new Piece(f.path(), hw, Math.min(b, f.size()), 0, 0, shard));
        }
        if (b < e) {
          pieces.add(new Piece(f.path(), b, e, rank(t.name()), layerOf(t.name()), shard));
          hw = e;
        }
      }
      if (hw < f.size()) {
        gaps.add(new Piece(f.path(), hw, f.size(), 0, 0, shard));
      }
    }
    pieces.sort(Comparator.comparingInt(Piece::rank).thenComparingLong(Piece::layer)
        .thenComparingInt(Piece::shard).thenComparingLong(Piece::begin));
    for (Piece p : pieces) {
      add(out, at, p.path(), p.begin(), p.end());
    }
    for (Piece p : gaps) {
      add(out, at, p.path(), p.begin(), p.end());
    }
    for (FileInfo f : rest) {
      add(out, at, f.path(), 0, f.size());
    }
    return new ReadPlan(out, tensorLevel);
  }

  /** Appends a segment, merging it into the previous one when it continues the same file. */
  private static void add(List<ReadPlan.Segment> out, long[] at, String path, long begin, long end) {
    if (end <= begin) {
      return;
    }
    if (!out.isEmpty()) {
      ReadPlan.Segment last = out.get(out.size() - 1);
      if (last.path().equals(path) && last.end() == begin) {
        out.set(out.size() - 1, new ReadPlan.Segment(path, last.begin(), end, last.planOffset()));
        at[0] += end - begin;
        return;
      }
    }
    out.add(new ReadPlan.Segment(path, begin, end, at[0]));
    at[0] += end - begin;
  }

  /**
   * Shard positions: by the earliest (in loader order) tensor the weight map puts in each shard,
   * then by path; shards the map does not mention go last, by path.
   */
  static Map<String, Integer> shardOrder(List<FileInfo> shards, Map<String, String> weightMap) {
    Map<String, long[]> best = new HashMap<>();
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      long[] key = {rank(e.getKey()), layerOf(e.getKey())};
      for (FileInfo f : shards) {
        if (f.path().equals(e.getValue()) || f.path().endsWith("/" + e.getValue())) {
          best.merge(f.path(), key, (a, b) -> compare(a, b) <= 0 ? a : b);
        }
      }
    }
    List<FileInfo> sorted = new ArrayList<>(shards);
    sorted.sort((a, b) -> {
      long[] ka = best.get(a.path());
      long[] kb = best.get(b.path());
      if (ka != null && kb != null && compare(ka, kb) != 0) {
        return compare(ka, kb);
      }
      if ((ka == null) != (kb == null)) {
        return ka == null ? 1 : -1;
      }
      return a.path().compareTo(b.path());
    });
    Map<String, Integer> pos = new LinkedHashMap<>();
    for (int i = 0; i < sorted.size(); i++) {
      pos.put(sorted.get(i).path(), i);
    }
    return pos;
  }

  private static int compare(long[] a, long[] b) {
    return a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]);
  }

  /** The {@code weight_map} of a {@code model.safetensors.index.json}; empty when it is not one. */
  public static Map<String, String> parseIndex(byte[] json) {
    Map<String, String> out = new LinkedHashMap<>();
    try {
      JsonNode root = JSON.readTree(json);
      JsonNode wm = root == null ? null : root.get("weight_map");
      if (wm != null && wm.isObject()) {
        for (Map.Entry<String, JsonNode> e : wm.properties()) {
          if (e.getValue().isTextual()) {
            out.put(e.getKey(), e.getValue().asText());
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      return Map.of();
    }
    return out;
  }

  public static boolean isSafetensors(String path) {
    return path.endsWith(".safetensors");
  }

  public static boolean isShardIndex(String path) {
    return path.endsWith(".safetensors.index.json");
  }

  /** Loader rank (the rules live with the format, in {@link SafetensorsHeader#rank}). */
  static int rank(String name) {
    return SafetensorsHeader.rank(name);
  }

  static long layerOf(String name) {
    return SafetensorsHeader.layerOf(name);
  }
}
