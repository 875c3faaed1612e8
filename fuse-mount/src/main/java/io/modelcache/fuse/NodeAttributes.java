package io.modelcache.fuse;

/**
 * Attributes of a file or directory. {@code mode} holds only the permission bits (e.g. 0644); the
 * file type comes from {@code directory}.
 */
public record NodeAttributes(
    boolean directory, long size, int mode, int uid, int gid, long mtimeEpochSecond, int mtimeNanos) {

  public static NodeAttributes directory(int mode, long mtimeEpochSecond) {
    return new NodeAttributes(true, 0, mode, 0, 0, mtimeEpochSecond, 0);
  }
}
