package io.modelcache.access;

import java.util.Map;
import java.util.Set;

/**
 * Decides each control request from the caller's credentials, the configured {@link Rules} and,
 * for a mount, what is at the mountpoint. Root may do everything, and so may the daemon's own uid
 * when it is not root. Pure: no I/O.
 *
 * <ul>
 *   <li>Everyone who can open the socket may look: ls, status, progress, cache ls, profile ls|export.
 *   <li>Root and members of the control group may mount, into a directory they own and may write
 *       that is not a symbolic link (fusermount3's rule), and warm models into the cache; not an
 *       {@code oci:} layout (the daemon would read it with root's rights) and not with
 *       {@code --plain-http} (it would send the node's credentials unencrypted).
 *   <li>Only root or the uid that mounted may unmount.
 *   <li>Cache administration (cache verify|evict|gc) and profile import: root or the admin group.
 *   <li>Any other operation: root only (a new operation is closed until it is classified here).
 * </ul>
 */
public final class AccessPolicy {
  private static final Set<String> EVERYONE = Set.of("ls", "status", "ping", "progress", "cache-ls",
      "profile-ls", "profile-export");
  private static final Set<String> MEMBERS = Set.of("mount", "warm", "umount");
  private static final Map<String, String> ADMIN = Map.of(
      "cache-verify", "cache verify", "cache-evict", "cache evict", "cache-gc", "cache gc",
      "profile-import", "profile import");

  private final Rules rules;
  /** The uid the daemon runs as: its callers of that uid may do what root may (they own it anyway). */
  private final int daemonUid;

  /** The policy of a daemon running as root. */
  public AccessPolicy(Rules rules) {
    this(rules, 0);
  }

  /**
   * The policy of a daemon running as {@code daemonUid}. When that is not root, a caller of the same
   * uid is treated as root is (she owns the daemon's home, cache and process already, and the daemon
   * reads and mounts with her rights only); other users are judged as always.
   */
  public AccessPolicy(Rules rules, int daemonUid) {
    this.rules = rules;
    this.daemonUid = daemonUid;
  }

  /** Root, or the daemon's own user. */
  private boolean privileged(Caller c) {
    return c.isRoot() || c.uid() == daemonUid;
  }

  public Rules rules() {
    return rules;
  }

  /** The first gate: may this caller run {@code op} at all (mount and umount are then judged in detail)? */
  public Decision operation(Caller c, String op) {
    if (privileged(c) || EVERYONE.contains(op)) {
      return Decision.ALLOW;
    }
    if (MEMBERS.contains(op)) {
      return member(c) ? Decision.ALLOW : Decision.deny(notMember(verb(op)));
    }
    String admin = ADMIN.get(op);
    if (admin != null) {
      if (rules.adminGroup() != null && c.inGroup(rules.adminGroupId())) {
        return Decision.ALLOW;
      }
      return Decision.deny("cannot run " + admin + ": only root"
          + (rules.adminGroup() == null ? "" : " or members of group " + rules.adminGroup()) + " may");
    }
    return Decision.deny("cannot run '" + op + "': only root may");
  }

  /**
   * A mount of {@code ref} at {@code mp}. Root may mount anywhere the daemon's own checks allow; a
   * member only into her own, writable, non-link directory, from a registry, over TLS unless the
   * node's config says otherwise.
   */
  public Decision mount(Caller c, String ref, Boolean plainHttp, Mountpoint mp) {
    Decision gate = operation(c, "mount");
    if (privileged(c) || !gate.allowed()) {
      return gate;
    }
    Decision source = source(ref, plainHttp, "mount");
    if (!source.allowed()) {
      return source;
    }
    String at = "cannot mount at " + mp.path() + ": ";
    if (!mp.exists()) {
      return Decision.ALLOW; // the daemon reports a missing directory as a usage error
    }
    if (mp.symlink()) {
      return Decision.deny(at + "it is a symbolic link");
    }
    if (!mp.directory()) {
      return Decision.ALLOW; // "not a directory": a usage error, reported by the daemon
    }
    if (mp.ownerUid() != c.uid()) {
      return Decision.deny(at + "you do not own it");
    }
    if (!mp.ownerWritable()) {
      return Decision.deny(at + "you may not write to it");
    }
    return Decision.ALLOW;
  }

  /** Warming a model into the cache (pull through the daemon, mount --wait-full). */
  public Decision warm(Caller c, String ref, Boolean plainHttp) {
    Decision gate = operation(c, "warm");
    if (privileged(c) || !gate.allowed() || ref == null || ref.isEmpty()) {
      return gate;
    }
    return source(ref, plainHttp, "pull");
  }

  private Decision source(String ref, Boolean plainHttp, String verb) {
    if (ref.startsWith("oci:")) {
      return Decision.deny("cannot " + verb + " " + ref
          + ": only root may use an OCI layout directory (the daemon would read it as root)");
    }
    if (Boolean.TRUE.equals(plainHttp)) {
      return Decision.deny("cannot " + verb + " " + ref
          + " with --plain-http: only root may (it would send the node's registry credentials unencrypted)");
    }
    return Decision.ALLOW;
  }

  /** An unmount of the mount at {@code mountpoint}, made by {@code ownerUid}. */
  public Decision umount(Caller c, String mountpoint, int ownerUid) {
    Decision gate = operation(c, "umount");
    if (privileged(c) || !gate.allowed() || ownerUid == c.uid()) {
      return gate;
    }
    return Decision.deny("cannot unmount " + mountpoint + ": it was mounted by uid "
        + Integer.toUnsignedString(ownerUid) + ", not by you");
  }

  /**
   * How the FUSE mount is made for {@code c}: root's mounts as configured; a user's mount belongs to
   * her (user_id/group_id), is nosuid,nodev, and others may read it only when allowOther is set.
   */
  public MountMode mountMode(Caller c) {
    if (privileged(c)) {
      return new MountMode(0, 0, rules.allowOther());
    }
    return new MountMode(c.uid(), c.gid(), rules.allowOther());
  }

  private boolean member(Caller c) {
    return rules.group() != null && c.inGroup(rules.groupId());
  }

  private String notMember(String verb) {
    return "cannot " + verb + ": " + (rules.group() == null
        ? "only root may (control.group is not set)"
        : "only root or members of group " + rules.group() + " may");
  }

  private static String verb(String op) {
    return switch (op) {
      case "umount" -> "unmount";
      case "warm" -> "pull into the cache";
      default -> op;
    };
  }
}
