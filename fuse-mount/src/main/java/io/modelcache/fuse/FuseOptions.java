package io.modelcache.fuse;

import java.time.Duration;
import java.util.Objects;

/**
 * How {@link FuseMount} mounts a tree.
 *
 * @param allowOther let users other than the mounting one see the files (needs root or
 *     user_allow_other)
 * @param readAheadKb kernel read-ahead for the mount, written to /sys/class/bdi/MAJ:MIN/read_ahead_kb
 * @param fsName the mount source shown in /proc/mounts
 * @param subtype shown as fuse.SUBTYPE in /proc/mounts
 * @param debug libfuse debug output (-d) on stderr
 * @param listener told of every completed callback; may be null
 * @param slowCallThreshold callbacks slower than this are logged
 * @param ownerUid the user the mount belongs to (0: root's, mounted by libfuse; otherwise an
 *     {@link OwnedMount}: that user's, nosuid, nodev)
 * @param ownerGid that user's group (the kernel's group_id)
 */
public record FuseOptions(
    boolean allowOther,
    int readAheadKb,
    String fsName,
    String subtype,
    boolean debug,
    OperationListener listener,
    Duration slowCallThreshold,
    int ownerUid,
    int ownerGid) {

  public FuseOptions {
    Objects.requireNonNull(fsName, "fsName");
    Objects.requireNonNull(subtype, "subtype");
    Objects.requireNonNull(slowCallThreshold, "slowCallThreshold");
    if (readAheadKb < 0) {
      throw new IllegalArgumentException("readAheadKb must be >= 0: " + readAheadKb);
    }
    for (String s : new String[] {fsName, subtype}) {
      if (s.isEmpty() || s.chars().anyMatch(c -> c == ',' || c == '\\' || c <= ' ')) {
        throw new IllegalArgumentException("not a valid FUSE fsname/subtype: '" + s + "'");
      }
    }
  }

  /** allow_other, 1 MiB read-ahead (the best setting measured with libfuse2), fsname "modelcache". */
  public static FuseOptions defaults() {
    return new FuseOptions(true, 1024, "modelcache", "modelcache", false, null, Duration.ofSeconds(1), 0, 0);
  }

  public FuseOptions withAllowOther(boolean v) {
    return new FuseOptions(v, readAheadKb, fsName, subtype, debug, listener, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withReadAheadKb(int v) {
    return new FuseOptions(allowOther, v, fsName, subtype, debug, listener, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withFsName(String v) {
    return new FuseOptions(allowOther, readAheadKb, v, subtype, debug, listener, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withSubtype(String v) {
    return new FuseOptions(allowOther, readAheadKb, fsName, v, debug, listener, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withDebug(boolean v) {
    return new FuseOptions(allowOther, readAheadKb, fsName, subtype, v, listener, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withListener(OperationListener v) {
    return new FuseOptions(allowOther, readAheadKb, fsName, subtype, debug, v, slowCallThreshold, ownerUid, ownerGid);
  }

  public FuseOptions withSlowCallThreshold(Duration v) {
    return new FuseOptions(allowOther, readAheadKb, fsName, subtype, debug, listener, v, ownerUid, ownerGid);
  }

  /** The mount belongs to {@code uid}:{@code gid}; 0:0 is root's. */
  public FuseOptions withOwner(int uid, int gid) {
    return new FuseOptions(allowOther, readAheadKb, fsName, subtype, debug, listener, slowCallThreshold, uid, gid);
  }
}
