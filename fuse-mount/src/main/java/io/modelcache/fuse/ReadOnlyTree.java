package io.modelcache.fuse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a read-only filesystem shows: the small interface that both FUSE transports serve. It knows
 * nothing of where bytes come from. Paths are absolute, '/'-separated, normalized ("/" is the root).
 *
 * <p>Threading: called concurrently from FUSE worker threads; implementations must be thread-safe.
 * Errors: throw {@link java.nio.file.NoSuchFileException} for ENOENT,
 * {@link java.nio.file.AccessDeniedException} for EACCES; any other exception becomes EIO.
 */
public interface ReadOnlyTree {
  /** Attributes of the node at {@code path}, or null when there is none. */
  NodeAttributes stat(String path);

  /** Names (not paths) of the entries of directory {@code path}; null when it is not a directory. */
  List<String> list(String path);

  /** Opens the file at {@code path} for reading. */
  FileReader open(String path) throws IOException;

  /** Extended attributes of the node (name to value); empty when none. */
  Map<String, byte[]> xattrs(String path);

  /** Total bytes of all files, reported by statfs. */
  long totalBytes();

  /** An open file. Thread-safe: the kernel may issue concurrent reads on one handle. */
  interface FileReader extends AutoCloseable {
    /**
     * Reads up to {@code dst.remaining()} bytes at {@code offset} into {@code dst}; returns the
     * number read, which is short only at end of file. Must return verified bytes or throw.
     */
    int read(long offset, ByteBuffer dst) throws IOException;

    /**
     * The bytes {@code [offset, offset + len)} as memory this reader holds for the caller until the
     * {@link Loan} is closed, or null when it does not hold them all now: then the caller reads
     * them with {@link #read}. The same contract as read otherwise (verified bytes or an exception).
     * Null by default; a transport that writes replies from the reader's memory asks first.
     */
    default Loan lend(long offset, int len) throws IOException {
      return null;
    }

    /**
     * A file the kernel may read in place of this one, when one exists now (for a tree that serves
     * from a cache: the file is complete and verified there). Each call that returns one hands out a
     * new {@link BackingFile} that the caller must close. Empty by default: the transport serves
     * every read through {@link #read}.
     */
    default Optional<BackingFile> backing() {
      return Optional.empty();
    }

    /**
     * As {@link #backing()}, for a file whose backing file the kernel reads already (a passthrough
     * handle taken over from a previous server): a tree may refuse a new {@link #backing()} for a
     * check still to come, but must not leave a file in use unpinned for that. The same by default.
     */
    default Optional<BackingFile> backingInUse() {
      return backing();
    }

    /**
     * The transport served {@code len} bytes at {@code offset} from this reader's {@link #backing()}
     * file itself (a spliced reply) instead of calling {@link #read}: for the reader's bookkeeping
     * (counters, read-ahead, profiles) only. Must not block or throw.
     */
    default void servedInPlace(long offset, int len) {}

    /**
     * Whether every byte this reader serves is final (verified): then the kernel may keep pages it
     * cached during earlier opens (FOPEN_KEEP_CACHE). False while bytes are served before their
     * check, so that pages of content that later fails its check do not outlive the open. The
     * kernel transport also asks before each READ it would splice from the {@link #backing()} file
     * (so keep it cheap): a reader no longer final, part of whose file was found damaged since, is
     * served through {@link #read} meanwhile.
     */
    default boolean contentFinal() {
      return true;
    }

    @Override
    default void close() {}

    /** Reads until {@code dst} is full or a short read says end of file; returns bytes read. */
    static int readFully(FileReader reader, long offset, ByteBuffer dst) throws IOException {
      int want = dst.limit();
      int total = 0;
      while (total < want) {
        dst.limit(want).position(total);
        int requested = want - total;
        int n = reader.read(offset + total, dst);
        if (n <= 0) {
          break;
        }
        total += n;
        if (n < requested) {
          break; // short read: end of file
        }
      }
      return total;
    }
  }
}
