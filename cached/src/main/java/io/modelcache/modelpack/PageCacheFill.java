package io.modelcache.modelpack;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads a pulled file back into the page cache after {@link BlobFileWriter} wrote it around it with
 * O_DIRECT, so that a loader started right after {@code modelcache pull} maps cached pages instead
 * of faulting every page in from disk (on the test machine a loader over a 4 GiB model took 9.3 s
 * from disk against 0.2 s from the page cache). The read is {@code sendfile} into {@code /dev/null}:
 * the disk fills the pages and nothing is copied to user space. Only done while the model fits in
 * half of the memory available ({@link #worthIt}); a larger model would push itself out again.
 * {@code -Dmodelcache.pull.pageCache=true|false} overrides that choice (for measuring).
 */
final class PageCacheFill {
  static final String PROPERTY = "modelcache.pull.pageCache";
  private static final Path DEV_NULL = Path.of("/dev/null");

  private PageCacheFill() {}

  /** Whether to read back a model of {@code modelBytes} after the pull. */
  static boolean worthIt(long modelBytes) {
    String v = System.getProperty(PROPERTY, "auto");
    if (!v.equals("auto")) {
      return Boolean.parseBoolean(v);
    }
    long avail = memAvailable();
    return avail > 0 && modelBytes <= avail / 2;
  }

  /** Reads {@code file} into the page cache; best effort (an error leaves it to the loader's faults). */
  static void fill(Path file) {
    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ);
        FileChannel out = FileChannel.open(DEV_NULL, StandardOpenOption.WRITE)) {
      long size = in.size();
      long pos = 0;
      while (pos < size) {
        long n = in.transferTo(pos, size - pos, out);
        if (n <= 0) {
          return;
        }
        pos += n;
      }
    } catch (IOException | RuntimeException e) {
      // the file is complete and verified either way; only its pages are not cached
    }
  }

  /** MemAvailable from /proc/meminfo in bytes, or 0 where it cannot be read. */
  static long memAvailable() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemAvailable:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or an unexpected format
    }
    return 0;
  }
}
