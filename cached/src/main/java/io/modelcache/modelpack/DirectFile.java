package io.modelcache.modelpack;

import io.modelcache.cache.BlockSize;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file opened a second time with O_DIRECT, for {@link BlobFileWriter}: writes must start at a
 * multiple of {@link #align()}, be a multiple of it long and come from a buffer whose address is a
 * multiple of it (the file system's block size). {@link #open} answers null where the file system
 * refuses O_DIRECT.
 *
 * <p><b>When.</b> {@link #worthIt}: a model that fits in half of the memory available (MemAvailable,
 * capped by the process's memory cgroup: {@link AvailableMemory}) is written
 * through the page cache, where a loader started right after the pull finds it; a bigger one would
 * push itself (and everything else) out of the page cache before any loader could use it, so it
 * goes to the disk without the copy. {@code -Dmodelcache.pull.direct=true|false} overrides the choice
 * (for measuring the two against each other).
 *
 * @param channel the O_DIRECT channel; the caller closes it
 * @param align the block size every direct write is aligned to
 */
record DirectFile(FileChannel channel, int align) implements AutoCloseable {
  static final String PROPERTY = "modelcache.pull.direct";
  /** Larger reported block sizes are not believed (the write buffer is 4 MiB). */
  private static final long MAX_BLOCK = 64 << 10;

  /** Whether a pull of {@code modelBytes} writes through O_DIRECT (see the class comment). */
  static boolean worthIt(long modelBytes) {
    String v = System.getProperty(PROPERTY, "auto");
    if (!v.equals("auto")) {
      return Boolean.parseBoolean(v);
    }
    return worthIt(modelBytes, AvailableMemory.read());
  }

  /** The choice for {@code modelBytes} given {@code memAvailable} bytes (0: unknown, so buffered). */
  static boolean worthIt(long modelBytes, long memAvailable) {
    return memAvailable > 0 && modelBytes > memAvailable / 2;
  }

  /** Opens {@code file} (which exists) with O_DIRECT for writing, or returns null. */
  static DirectFile open(Path file) {
    int align = BlockSize.of(file, MAX_BLOCK);
    try {
      return new DirectFile(FileChannel.open(file, StandardOpenOption.WRITE,
          com.sun.nio.file.ExtendedOpenOption.DIRECT), align);
    } catch (IOException | UnsupportedOperationException e) {
      return null; // buffered writes still work
    }
  }

  /** {@code offset} rounded down to a block boundary: where a resumed direct download restarts. */
  long alignDown(long offset) {
    return offset - offset % align;
  }

  /** Whether a write of {@code length} bytes at {@code pos} can go through O_DIRECT. */
  boolean aligned(long pos, int length) {
    return pos % align == 0 && length % align == 0;
  }

  /** A direct buffer of {@code size} bytes (a multiple of the block size) at an aligned address. */
  ByteBuffer buffer(int size) {
    return ByteBuffer.allocateDirect(size + align).alignedSlice(align).limit(size).slice();
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
