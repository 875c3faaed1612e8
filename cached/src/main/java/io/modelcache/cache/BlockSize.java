package io.modelcache.cache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The block size O_DIRECT transfers must be aligned to on the file system holding a path: the
 * cache's files ({@link ChunkCache}) and the pull's downloads ({@code modelpack.DirectFile}).
 * 4096 where the file system does not say, or says something that is not a power of two between
 * 512 and {@code max}.
 */
public final class BlockSize {
  private BlockSize() {}

  public static int of(Path path, long max) {
    try {
      long bs = Files.getFileStore(path).getBlockSize();
      if (bs >= 512 && bs <= max && Long.bitCount(bs) == 1) {
        return (int) bs;
      }
    } catch (IOException | UnsupportedOperationException e) {
      // fall through to the common page size
    }
    return 4096;
  }
}
