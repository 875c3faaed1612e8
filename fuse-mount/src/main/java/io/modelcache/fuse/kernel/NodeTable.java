package io.modelcache.fuse.kernel;

import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The node ids of a mount, derived from its tree alone: every path of the tree in sorted order,
 * the root ("/") first with id 1 (FUSE_ROOT_ID), the n-th path with id n. The same tree always
 * gives the same ids, so a server that takes over a live connection (after a restart) answers the
 * ids the kernel already holds. Immutable; built once per mount by walking the tree.
 */
public final class NodeTable {
  private final String[] paths; // id - 1 -> path
  private final Map<String, Long> ids;
  private final long[] parents; // id - 1 -> parent id

  private NodeTable(String[] paths) {
    this.paths = paths;
    this.ids = new HashMap<>(paths.length * 2);
    for (int i = 0; i < paths.length; i++) {
      ids.put(paths[i], (long) i + 1);
    }
    this.parents = new long[paths.length];
    for (int i = 0; i < paths.length; i++) {
      parents[i] = i == 0 ? FuseAbi.ROOT_ID : ids.getOrDefault(parentOf(paths[i]), FuseAbi.ROOT_ID);
    }
  }

  /** Walks {@code tree} from its root (every directory listed once). */
  public static NodeTable of(ReadOnlyTree tree) {
    List<String> all = new ArrayList<>();
    all.add("/");
    Deque<String> dirs = new ArrayDeque<>();
    dirs.add("/");
    while (!dirs.isEmpty()) {
      String dir = dirs.poll();
      List<String> names = tree.list(dir);
      if (names == null) {
        continue;
      }
      for (String name : names) {
        String p = child(dir, name);
        all.add(p);
        NodeAttributes a = tree.stat(p);
        if (a != null && a.directory()) {
          dirs.add(p);
        }
      }
    }
    return of(all);
  }

  /** The table of exactly these paths (the root is added when missing). */
  public static NodeTable of(List<String> paths) {
    String[] sorted = paths.stream().distinct().toArray(String[]::new);
    Arrays.sort(sorted);
    if (sorted.length == 0 || !sorted[0].equals("/")) {
      String[] withRoot = new String[sorted.length + 1];
      withRoot[0] = "/";
      System.arraycopy(sorted, 0, withRoot, 1, sorted.length);
      sorted = withRoot;
    }
    return new NodeTable(sorted);
  }

  static String child(String dir, String name) {
    return dir.equals("/") ? "/" + name : dir + "/" + name;
  }

  static String parentOf(String path) {
    int i = path.lastIndexOf('/');
    return i <= 0 ? "/" : path.substring(0, i);
  }

  /** The path of node {@code id}, or null when there is no such node. */
  public String path(long id) {
    return id >= 1 && id <= paths.length ? paths[(int) (id - 1)] : null;
  }

  /** The id of {@code path}, or 0 when the tree has no such path. */
  public long id(String path) {
    Long id = ids.get(path);
    return id == null ? 0 : id;
  }

  /** The id of the parent of node {@code id} (the root is its own parent). */
  public long parent(long id) {
    return parents[(int) (id - 1)];
  }

  public int size() {
    return paths.length;
  }
}
