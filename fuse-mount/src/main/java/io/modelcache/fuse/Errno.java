package io.modelcache.fuse;

import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;
import ru.serce.jnrfuse.ErrorCodes;

/** The one place where a Java failure becomes a FUSE errno. */
final class Errno {
  private Errno() {}

  /** The negative errno to return to the kernel for {@code t}; EIO for anything unexpected. */
  static int of(Throwable t) {
    if (t instanceof NoSuchFileException || t instanceof FileNotFoundException) {
      return -ErrorCodes.ENOENT();
    }
    if (t instanceof AccessDeniedException) {
      return -ErrorCodes.EACCES();
    }
    if (t instanceof ReadOnlyFileSystemException) {
      return -ErrorCodes.EROFS();
    }
    if (t instanceof NotDirectoryException) {
      return -ErrorCodes.ENOTDIR();
    }
    return -ErrorCodes.EIO();
  }
}
