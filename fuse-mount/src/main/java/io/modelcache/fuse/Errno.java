package io.modelcache.fuse;

import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;

/**
 * The one place where a Java failure becomes a FUSE errno, and the Linux errno numbers both
 * transports answer with (FUSE here is Linux only; x86-64 and arm64 share these numbers).
 */
public final class Errno {
  public static final int ENOENT = 2;
  public static final int EIO = 5;
  public static final int EBADF = 9;
  public static final int EACCES = 13;
  public static final int ENOTDIR = 20;
  public static final int EISDIR = 21;
  public static final int EINVAL = 22;
  public static final int EROFS = 30;
  public static final int ERANGE = 34;
  public static final int ENOSYS = 38;
  public static final int ENODATA = 61;

  private Errno() {}

  /** The negative errno to return to the kernel for {@code t}; EIO for anything unexpected. */
  static int of(Throwable t) {
    if (t instanceof NoSuchFileException || t instanceof FileNotFoundException) {
      return -ENOENT;
    }
    if (t instanceof AccessDeniedException) {
      return -EACCES;
    }
    if (t instanceof ReadOnlyFileSystemException) {
      return -EROFS;
    }
    if (t instanceof NotDirectoryException) {
      return -ENOTDIR;
    }
    return -EIO;
  }
}
