package io.modelcache.daemon;

/**
 * A mount as persisted in the mount table: what was asked for, the manifest digest it resolved to
 * (a remount after a restart uses this digest, never the tag), where, the {@code mounts.d} file
 * that declared it (null for a mount made with {@code modelcache mount}), and the uid and gid of
 * the user who mounted it (null for root: tables written before owners were recorded are root's).
 */
public record MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp, String declaredBy,
    Integer ownerUid, Integer ownerGid) {
  public MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp) {
    this(reference, digest, mountpoint, plainHttp, null, null, null);
  }

  public MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp, String declaredBy) {
    this(reference, digest, mountpoint, plainHttp, declaredBy, null, null);
  }

  /** The uid that may unmount it besides root. */
  public int owner() {
    return ownerUid == null ? 0 : ownerUid;
  }
}
