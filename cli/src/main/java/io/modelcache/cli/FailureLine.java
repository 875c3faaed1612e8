package io.modelcache.cli;

import io.modelcache.error.ModelCacheException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The one line and exit code a failed command ends with. A {@link ModelCacheException} anywhere in
 * the cause chain says both itself. A file-system failure that no command turned into one (a target
 * directory that is a file, a read-only file system, a missing parent) is the user's or the
 * machine's, not a bug: it names the path and the reason, exit code I/O, instead of a Java class
 * name. Anything else is an internal error.
 */
record FailureLine(String line, int exitCode, boolean internal) {
  static FailureLine of(Throwable ex) {
    ModelCacheException mce = find(ex, ModelCacheException.class);
    if (mce != null) {
      return new FailureLine("modelcache: " + mce.getMessage(), mce.kind().exitCode, false);
    }
    FileSystemException fs = find(ex, FileSystemException.class);
    if (fs != null && fs.getFile() != null) {
      String where = fs.getOtherFile() == null ? fs.getFile() : fs.getFile() + " -> " + fs.getOtherFile();
      return new FailureLine("modelcache: " + where + ": " + reason(fs), ModelCacheException.Kind.IO.exitCode, false);
    }
    return new FailureLine("modelcache: internal error: " + ex, 1, true);
  }

  private static String reason(FileSystemException e) {
    if (e.getReason() != null && !e.getReason().isBlank()) {
      return e.getReason();
    }
    return switch (e) {
      case NoSuchFileException n -> "No such file or directory";
      case AccessDeniedException a -> "Permission denied";
      case FileAlreadyExistsException f -> "File exists";
      case NotDirectoryException n -> "Not a directory";
      case DirectoryNotEmptyException d -> "Directory not empty";
      default -> "I/O error (" + e.getClass().getSimpleName() + ")";
    };
  }

  private static <T extends Throwable> T find(Throwable t, Class<T> type) {
    for (int depth = 0; t != null && depth < 32; t = t.getCause(), depth++) {
      if (type.isInstance(t)) {
        return type.cast(t);
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return null;
  }
}
