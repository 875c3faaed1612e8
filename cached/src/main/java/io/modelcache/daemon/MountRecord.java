package io.modelcache.daemon;

/**
 * A mount as persisted in the mount table: what was asked for, the manifest digest it resolved to
 * (a remount after a restart uses this digest, never the tag), where, and the {@code mounts.d} file
 * that declared it (null for a mount made with {@code modelcache mount}).
 */
public record MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp, String declaredBy) {
  public MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp) {
    this(reference, digest, mountpoint, plainHttp, null);
  }
}
