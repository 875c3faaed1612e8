package io.modelcache.fuse.kernel;

import io.modelcache.fuse.BackingFile;
import io.modelcache.fuse.kernel.sys.Sys;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An open file whose READ replies are spliced from its {@link BackingFile} into the FUSE device
 * ({@link SpliceReply}) instead of being copied through the reply buffer: taken at OPEN when the
 * reader has a backing file now but the open is served by the daemon (passthrough off, not offered
 * by the kernel, refused for the cache directory, or the inode held in the daemon's mode by another
 * open), and closed at RELEASE. This transport holds its own read-only descriptor of the file and
 * the backing file's guarantee (for a cache: complete, verified, pinned against eviction) for as
 * long as the open lasts, so every byte spliced is a verified byte at its offset.
 *
 * <p>Threading: {@link #take} is called on serving threads concurrently. Each range it gives holds
 * a use of the descriptor until its reply is sent ({@link #done}), so a RELEASE handled on another
 * worker meanwhile (possible after an interrupted read) never closes the descriptor, and lets its
 * number be reused by another file, under a splice.
 */
public final class SplicedFile {
  private static final Logger LOG = LoggerFactory.getLogger(SplicedFile.class);

  /** {@code length} bytes of the file at {@code fd} from {@code fdOffset}. */
  public record Range(int fd, long fdOffset, int length) {}

  private final BackingFile backing;
  private final int fd;
  private final long length;
  /** 1 for the open itself, plus one per range whose reply is not sent yet; 0: closed. */
  private final AtomicInteger uses = new AtomicInteger(1);
  private final AtomicBoolean closed = new AtomicBoolean();

  private SplicedFile(BackingFile backing, int fd) {
    this.backing = backing;
    this.fd = fd;
    this.length = backing.length();
  }

  /** Opens {@code backing} for splicing; null (and the backing file closed) when it cannot be opened. */
  static SplicedFile open(BackingFile backing) {
    int fd = Sys.open(backing.path().toString(), Sys.O_RDONLY | Sys.O_CLOEXEC);
    if (fd < 0) {
      LOG.debug("cannot open {} to splice from it (errno {}); its reads are copied", backing.path(), -fd);
      backing.close();
      return null;
    }
    return new SplicedFile(backing, fd);
  }

  /**
   * The range of a read of {@code want} bytes at {@code offset} (shorter at end of file), holding a
   * use of the descriptor until {@link #done}; null past the end of the file or once closed.
   */
  Range take(long offset, int want) {
    if (offset < 0 || offset >= length || want <= 0) {
      return null;
    }
    for (int u = uses.get(); ; u = uses.get()) {
      if (u <= 0) {
        return null;
      }
      if (uses.compareAndSet(u, u + 1)) {
        return new Range(fd, offset, (int) Math.min(want, length - offset));
      }
    }
  }

  /** A range from {@link #take} was sent or dropped. */
  void done() {
    if (uses.decrementAndGet() == 0) {
      Sys.close(fd);
      try {
        backing.close(); // unpins, which may start an eviction: never let it fail the reply path
      } catch (RuntimeException e) {
        LOG.warn("releasing the backing file {} after its spliced replies failed", backing.path(), e);
      }
    }
  }

  /** The open was released: the descriptor closes once no range of it is in flight. Idempotent. */
  void close() {
    if (closed.compareAndSet(false, true)) {
      done();
    }
  }
}
