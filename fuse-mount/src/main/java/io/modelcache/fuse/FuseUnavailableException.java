package io.modelcache.fuse;

import java.io.IOException;

/**
 * A mount cannot be made because a FUSE piece of this node is missing or unusable (the device, the
 * library, or mount(2) itself), as opposed to a problem with the mountpoint or the tree. The message
 * is one line naming the piece and how to get it.
 */
public final class FuseUnavailableException extends IOException {
  private static final long serialVersionUID = 1L;

  public FuseUnavailableException(String message) {
    super(message);
  }

  public FuseUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
