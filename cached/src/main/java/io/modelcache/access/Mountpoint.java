package io.modelcache.access;

/**
 * What the daemon saw at a mountpoint, without following a symbolic link there: whether it exists,
 * is a link or a directory, who owns it, whether its owner may write it, and whether it is empty.
 */
public record Mountpoint(String path, boolean exists, boolean symlink, boolean directory, int ownerUid,
    boolean ownerWritable, boolean empty) {

  public static Mountpoint missing(String path) {
    return new Mountpoint(path, false, false, false, -1, false, false);
  }
}
