package io.modelcache.daemon;

import io.modelcache.fuse.FuseMount;
import io.modelcache.fuse.LiveConnection;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Restoring the mount table at start: what the table held when the daemon last ran is mounted
 * again, at the same manifest digests. A mount whose connection a previous daemon's keeper still
 * holds (restart.keepMounts) is taken over instead, with no remount; if that fails, it is
 * remounted. Mountpoints left stale by a crash (ENOTCONN) are lazily unmounted first. A mount that
 * cannot be restored is logged and dropped from the table; it does not stop the daemon. Kept
 * connections that no record claims are let go at the end. Runs once, under the daemon's lock,
 * before the control socket listens.
 */
final class MountRestore {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

  private MountRestore() {}

  /** The daemon's check that nothing (of its own or another filesystem) is mounted at a mountpoint. */
  interface Check {
    void free(Path mp) throws IOException;
  }

  /** The daemon's mount of a record ({@link MountMaker}), adopting {@code adopt} when it is not null. */
  interface Mount {
    ActiveMount mount(MountRecord rec, Reference ref, LiveConnection adopt) throws IOException;
  }

  /** Restores {@code recs} in order; the caller saves the table of what came back. */
  static void restore(List<MountRecord> recs, Handover handover, Check check, Mount mount) {
    for (MountRecord rec : recs) {
      Path mp = Path.of(rec.mountpoint());
      Optional<LiveConnection> kept = handover.takeFor(mp);
      if (kept.isPresent()) {
        // The mount is still there, kept by the previous daemon's keeper: serve it again, no
        // remount. (No stale check: statfs or a listing would wait for the server this is.)
        try {
          Reference ref = Reference.parse(rec.reference());
          if (rec.digest() != null) {
            ref = ref.withDigest(Digest.parse(rec.digest()));
          }
          mount.mount(rec, ref, kept.get());
          LOG.info("took over the live mount of {} at {}", rec.reference(), mp);
          continue;
        } catch (IOException | RuntimeException e) {
          LOG.error("could not take over the mount of {} at {}: {}; remounting it", rec.reference(), mp, e.getMessage());
          handover.abandon(mp, kept.get());
        }
      }
      try {
        // A user's mount that root may not enter looks alive to statfs even when its server died:
        // any modelcache mount there now is a previous daemon's (this one has none yet).
        if (FuseMount.isStaleMount(mp) || (rec.owner() != 0
            && String.valueOf(FuseMount.mountSource(mp)).startsWith("modelcache:"))) {
          LOG.info("lazily unmounting stale mount {}", mp);
          FuseMount.lazyUnmount(mp);
        }
        Reference ref = Reference.parse(rec.reference());
        if (rec.digest() != null) {
          ref = ref.withDigest(Digest.parse(rec.digest()));
        }
        if (rec.owner() != 0) {
          Access.checkStillOwned(mp, rec.owner());
        }
        check.free(mp);
        mount.mount(rec, ref, null);
      } catch (IOException | RuntimeException e) {
        LOG.error("could not restore mount of {} at {}: {}", rec.reference(), mp, e.getMessage());
      }
    }
    handover.letGoOfTheRest();
  }
}
