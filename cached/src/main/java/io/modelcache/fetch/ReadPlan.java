package io.modelcache.fetch;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's bytes in the order a loader will want them: every byte of every file appears exactly
 * once, as segments laid end to end in "plan coordinates". A reader that follows the plan reads
 * sequentially in plan coordinates even while it jumps between tensors and shards, which is what
 * lets plain sequential read-ahead follow a loader. Immutable; built by {@link ReadPlanner}.
 */
public final class ReadPlan {
  /** File bytes {@code [begin, end)} of {@code path}, at {@code planOffset} in plan coordinates. */
  public record Segment(String path, long begin, long end, long planOffset) {
    public long length() {
      return end - begin;
    }
  }

  private final List<Segment> segments;
  private final long totalBytes;
  /** Per file: its segments' indexes sorted by file offset (they never overlap). */
  private final Map<String, int[]> byFile = new HashMap<>();
  private final Map<String, Boolean> tensorLevel;

  ReadPlan(List<Segment> segments, Map<String, Boolean> tensorLevel) {
    this.segments = List.copyOf(segments);
    this.tensorLevel = Map.copyOf(tensorLevel);
    long t = 0;
    Map<String, List<Integer>> idx = new HashMap<>();
    for (int i = 0; i < this.segments.size(); i++) {
      Segment s = this.segments.get(i);
      t += s.length();
      idx.computeIfAbsent(s.path(), k -> new ArrayList<>()).add(i);
    }
    this.totalBytes = t;
    idx.forEach((path, list) -> {
      list.sort((a, b) -> Long.compare(this.segments.get(a).begin(), this.segments.get(b).begin()));
      byFile.put(path, list.stream().mapToInt(Integer::intValue).toArray());
    });
  }

  public List<Segment> segments() {
    return Collections.unmodifiableList(segments);
  }

  public long totalBytes() {
    return totalBytes;
  }

  /** True when the file is in the plan at tensor level (a parsed safetensors header). */
  public boolean tensorLevel(String path) {
    return tensorLevel.getOrDefault(path, false);
  }

  public boolean contains(String path) {
    return byFile.containsKey(path);
  }

  /** The plan coordinate of a file offset, or -1 when the file or offset is not in the plan. */
  public long position(String path, long fileOffset) {
    int[] ix = byFile.get(path);
    if (ix == null) {
      return -1;
    }
    int lo = 0;
    int hi = ix.length - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      Segment s = segments.get(ix[mid]);
      if (fileOffset < s.begin()) {
        hi = mid - 1;
      } else if (fileOffset >= s.end()) {
        lo = mid + 1;
      } else {
        return s.planOffset() + (fileOffset - s.begin());
      }
    }
    return -1;
  }

  /** File ranges covering plan coordinates {@code [from, to)}, in plan order. */
  public List<Segment> range(long from, long to) {
    List<Segment> out = new ArrayList<>();
    if (from >= to || segments.isEmpty()) {
      return out;
    }
    int lo = 0;
    int hi = segments.size() - 1;
    while (lo < hi) { // first segment whose end (in plan coordinates) is past from
      int mid = (lo + hi) >>> 1;
      Segment s = segments.get(mid);
      if (s.planOffset() + s.length() <= from) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    for (int i = lo; i < segments.size(); i++) {
      Segment s = segments.get(i);
      if (s.planOffset() >= to) {
        break;
      }
      long a = Math.max(from, s.planOffset());
      long b = Math.min(to, s.planOffset() + s.length());
      if (a < b) {
        long begin = s.begin() + (a - s.planOffset());
        out.add(new Segment(s.path(), begin, begin + (b - a), a));
      }
    }
    return out;
  }

  /**
   * The plan cut into requests of at most {@code maxBytes}, in plan order: consecutive segments of
   * one file that touch are merged, so a file written in loader order becomes a few large reads.
   */
  public List<Segment> requests(long maxBytes) {
    List<Segment> out = new ArrayList<>();
    Segment cur = null;
    for (Segment s : segments) {
      long begin = s.begin();
      long plan = s.planOffset();
      while (begin < s.end()) {
        if (cur != null && cur.path().equals(s.path()) && cur.end() == begin && cur.length() < maxBytes) {
          long take = Math.min(maxBytes - cur.length(), s.end() - begin);
          cur = new Segment(cur.path(), cur.begin(), begin + take, cur.planOffset());
          begin += take;
          plan += take;
          continue;
        }
        if (cur != null) {
          out.add(cur);
        }
        long take = Math.min(maxBytes, s.end() - begin);
        cur = new Segment(s.path(), begin, begin + take, plan);
        begin += take;
        plan += take;
      }
    }
    if (cur != null) {
      out.add(cur);
    }
    return out;
  }
}
