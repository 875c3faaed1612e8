package io.modelcache.fuse.kernel;

import io.modelcache.fuse.ReadOnlyTree;

/**
 * Decides how an opened file is served: by this process (the default reply, reads arrive as READ
 * requests) or by the kernel from a backing file (a passthrough reply with FOPEN_PASSTHROUGH and a
 * backing id registered on the session's descriptor). Called on serving threads; thread-safe.
 */
public interface OpenHook {
  /** Serve every file through this process. */
  OpenHook DAEMON_PATH = new OpenHook() {};

  /**
   * The reply to send for an OPEN of {@code path} (request {@code unique}), given the daemon-path
   * reply {@code daemonPath}; return it unchanged to serve reads here.
   */
  default OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
    return daemonPath;
  }

  /**
   * An OPEN the kernel sent again after FUSE_NOTIFY_RESEND ({@code unique}: its original request
   * id): the reply an earlier server recorded for it but never got to the kernel, if any; empty
   * to treat it as a new open.
   */
  default java.util.Optional<OpenReply> resent(long unique, String path, ReadOnlyTree.FileReader reader) {
    return java.util.Optional.empty();
  }

  /** INIT was answered (or the connection was adopted): what the kernel and this server agreed. */
  default void initialized(Negotiated negotiated) {}

  /**
   * The kernel released {@code reply}'s handle (its backing id, if any, may be closed now). Also
   * called for handles an earlier server of the connection gave out (only the fh is known then).
   */
  default void released(OpenReply reply) {}

  /** The connection is gone: whatever is still open is closed (called once, before the readers close). */
  default void ended() {}

  /** This server stops serving a connection that stays mounted (it is handed to the next server). */
  default void left() {}
}
