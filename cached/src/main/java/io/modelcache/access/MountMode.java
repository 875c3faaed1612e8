package io.modelcache.access;

/**
 * Who a FUSE mount belongs to (the kernel's user_id and group_id: without allow_other only that
 * user's processes may enter it) and whether other users may read it.
 */
public record MountMode(int ownerUid, int ownerGid, boolean allowOther) {
  public boolean isRoot() {
    return ownerUid == 0;
  }
}
