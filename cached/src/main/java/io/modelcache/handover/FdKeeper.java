package io.modelcache.handover;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * Somewhere outside the daemon process that keeps a duplicate of a descriptor (a mount's
 * {@code /dev/fuse} connection) while the daemon stops, crashes or is upgraded, and gives it to the
 * next daemon: the {@linkplain HolderKeeper holder process} or {@linkplain SystemdKeeper systemd's
 * file descriptor store}. Implementations are thread-safe.
 */
public interface FdKeeper extends Closeable {
  /** A descriptor a previous daemon kept, now owned by the caller. */
  record Kept(String name, int fd, Map<String, String> meta) {
    public Kept {
      meta = Map.copyOf(meta);
    }
  }

  /** One line for logs and status: what keeps the descriptors. */
  String describe();

  /**
   * Gets ready for a {@link #keep} that is coming soon (a mount has started), without waiting: the
   * holder process starts while the mount does its other work instead of after it. A failure here is
   * only logged; {@link #keep} reports its own. Nothing to do for systemd's store.
   */
  default void prepare() {}

  /** Keeps a duplicate of {@code fd} under {@code name} (the caller keeps and closes its own). */
  void keep(String name, int fd, Map<String, String> meta) throws IOException;

  /** Stops keeping {@code name} (the mount is torn down on purpose). */
  void release(String name) throws IOException;

  /** What a previous daemon left kept; call once, at start. The caller owns the descriptors. */
  List<Kept> takeBack() throws IOException;

  /**
   * Makes sure what was kept is still kept (a holder that died is replaced and given everything
   * again); called periodically by the daemon. Nothing to do for systemd's store.
   */
  default void check() throws IOException {}

  /** This daemon stops: what it kept stays kept for the next one. */
  @Override
  void close();
}
