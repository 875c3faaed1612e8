package io.modelcache.mount;

import io.modelcache.fuse.NodeAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The directory structure of a mounted model, derived from its file paths: every parent of a file
 * path is a directory. Pure and immutable once built; lookups are map gets, safe from any thread.
 *
 * @param <F> what a file maps to (the daemon's per-file state)
 */
public final class TreeIndex<F> {
  private final Map<String, F> files = new HashMap<>();
  private final Map<String, NodeAttributes> fileAttrs = new HashMap<>();
  private final Map<String, List<String>> dirs = new HashMap<>();
  private final NodeAttributes dirAttrs;

  private TreeIndex(NodeAttributes dirAttrs) {
    this.dirAttrs = dirAttrs;
  }

  /** Builder input: a relative, already safety-checked path ("a/b.safetensors"). */
  public record Entry<F>(String relativePath, NodeAttributes attributes, F file) {}

  public static <F> TreeIndex<F> build(List<Entry<F>> entries, NodeAttributes dirAttrs) {
    TreeIndex<F> t = new TreeIndex<>(dirAttrs);
    Map<String, TreeSet<String>> children = new HashMap<>();
    children.put("/", new TreeSet<>());
    for (Entry<F> e : entries) {
      String path = "/" + e.relativePath();
      if (t.files.putIfAbsent(path, e.file()) != null || children.containsKey(path)) {
        throw new IllegalArgumentException("duplicate path " + e.relativePath());
      }
      t.fileAttrs.put(path, e.attributes());
      String child = path;
      while (!child.equals("/")) {
        int slash = child.lastIndexOf('/');
        String parent = slash == 0 ? "/" : child.substring(0, slash);
        if (t.files.containsKey(parent)) {
          throw new IllegalArgumentException("path " + parent.substring(1) + " is both a file and a directory");
        }
        children.computeIfAbsent(parent, k -> new TreeSet<>()).add(child.substring(slash + 1));
        child = parent;
      }
    }
    children.forEach((k, v) -> t.dirs.put(k, Collections.unmodifiableList(new ArrayList<>(v))));
    return t;
  }

  public NodeAttributes stat(String path) {
    if (dirs.containsKey(path)) {
      return dirAttrs;
    }
    return fileAttrs.get(path);
  }

  public List<String> list(String path) {
    return dirs.get(path);
  }

  public F file(String path) {
    return files.get(path);
  }

  public Map<String, F> files() {
    return Collections.unmodifiableMap(files);
  }
}
