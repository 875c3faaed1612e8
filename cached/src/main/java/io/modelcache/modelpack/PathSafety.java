package io.modelcache.modelpack;

import io.modelcache.error.ModelCacheException;

/**
 * Checks a file path from an artifact before it names anything on disk or in a mount: relative,
 * {@code /}-separated, no empty, {@code .} or {@code ..} segments, no NUL. (modctl joins the
 * annotation onto the output directory unchecked; we refuse instead.)
 */
public final class PathSafety {
  private PathSafety() {}

  /** Why {@code path} is unsafe, or null when it is fine. */
  public static String problem(String path) {
    if (path == null || path.isEmpty()) {
      return "empty path";
    }
    if (path.indexOf('\0') >= 0) {
      return "NUL character";
    }
    if (path.startsWith("/")) {
      return "absolute path";
    }
    for (String seg : path.split("/", -1)) {
      if (seg.isEmpty()) {
        return "empty segment";
      }
      if (seg.equals("..")) {
        return "'..' segment";
      }
      if (seg.equals(".")) {
        return "'.' segment";
      }
    }
    return null;
  }

  /**
   * Throws UNSAFE_PATH {@code "<where>: unsafe file path '<path>' (<reason>)"} when the path is unsafe.
   * {@code where} names the layer, e.g. {@code "oci:/m:v1: layer 0123456789ab"}.
   */
  public static void check(String where, String path) throws ModelCacheException {
    String why = problem(path);
    if (why != null) {
      throw ModelCacheException.unsafePath(
          where + ": unsafe file path '" + (path == null ? "" : path.replace("\0", "\\0")) + "' (" + why + ")");
    }
  }
}
