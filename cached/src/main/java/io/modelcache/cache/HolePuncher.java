package io.modelcache.cache;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.ffi.LibraryLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Frees the disk blocks of a byte range of a file without changing its size:
 * {@code fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)} through jnr-ffi's libc binding.
 * Isolated here so the rest of the cache stays plain Java. Opens the file by path each time, so it
 * works whether or not the blob is open. When punching is unavailable (not Linux, or a filesystem
 * without hole support) it reports false and logs once; the cache then only reclaims space when a
 * blob's last chunk goes and the file is deleted.
 */
final class HolePuncher {
  private static final Logger LOG = LoggerFactory.getLogger(HolePuncher.class);
  private static final int O_WRONLY = 1;
  private static final int FALLOC_FL_KEEP_SIZE = 1;
  private static final int FALLOC_FL_PUNCH_HOLE = 2;

  /** The three libc calls we need. */
  public interface LibC {
    int open(String path, int flags, int mode);

    int fallocate(int fd, int mode, long offset, long len);

    int close(int fd);
  }

  private static final LibC LIBC = load();
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  private HolePuncher() {}

  private static LibC load() {
    try {
      return LibraryLoader.create(LibC.class).load("c");
    } catch (Throwable t) {
      LOG.warn("hole punching unavailable ({}); evicted chunks are reclaimed only when a whole blob goes", t.toString());
      return null;
    }
  }

  static boolean punch(Path file, long offset, long length) {
    if (LIBC == null || length <= 0) {
      return false;
    }
    int fd = LIBC.open(file.toString(), O_WRONLY, 0);
    if (fd < 0) {
      return false;
    }
    try {
      int rc = LIBC.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
      if (rc != 0 && WARNED.compareAndSet(false, true)) {
        LOG.warn("fallocate(PUNCH_HOLE) failed on {}; evicted chunks are reclaimed only when a whole blob goes", file);
      }
      return rc == 0;
    } finally {
      LIBC.close(fd);
    }
  }
}
