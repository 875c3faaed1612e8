package io.modelcache.os;

import java.io.IOException;

/** A failed system call, with its errno so callers can tell "nobody listens" from real trouble. */
public final class ErrnoException extends IOException {
  public static final int ENOENT = 2;
  public static final int EINTR = 4;
  public static final int EBADF = 9;
  public static final int EAGAIN = 11;
  public static final int EPIPE = 32;
  public static final int ECONNRESET = 104;
  public static final int ECONNREFUSED = 111;

  private final int errno;

  public ErrnoException(String message, int errno) {
    super(message);
    this.errno = errno;
  }

  public int errno() {
    return errno;
  }
}
