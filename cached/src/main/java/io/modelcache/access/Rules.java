package io.modelcache.access;

/**
 * The configured access model: the control group (null: root only), the admin group (null: root
 * only) with their ids, and whether a non-root user's mount may be read by others
 * ({@code mounts.allowOther}, as {@code user_allow_other} in /etc/fuse.conf).
 */
public record Rules(String group, int groupId, String adminGroup, int adminGroupId, boolean allowOther) {

  public static Rules rootOnly(boolean allowOther) {
    return new Rules(null, -1, null, -1, allowOther);
  }
}
