package io.modelcache.mount;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.HeldBytes;
import io.modelcache.cache.PinnedFile;
import io.modelcache.fetch.MountPrefetcher;
import io.modelcache.fuse.BackingFile;
import io.modelcache.fuse.Loan;
import io.modelcache.fuse.ReadOnlyTree.FileReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/** An open file of the mount: reads through the cache, and its cache file once complete. */
final class MountReader implements FileReader {
  private final ModelMount mount;
  private final BlobHandle h;
  private final MountPrefetcher.Tracker tracker;

  MountReader(ModelMount mount, BlobHandle h, MountPrefetcher.Tracker tracker) {
    this.mount = mount;
    this.h = h;
    this.tracker = tracker;
  }

  @Override
  public int read(long offset, ByteBuffer dst) throws IOException {
    if (mount.warming()) {
      return h.read(offset, dst); // the mount's own check: not a reader (no read-ahead, counters, profile)
    }
    if (tracker != null) {
      tracker.onRead(offset, dst.remaining()); // queue read-ahead before blocking on this read
    }
    int n = h.read(offset, dst);
    served(n);
    return n;
  }

  /**
   * The bytes as the cache's memory when it holds them now (chunks just fetched, typically by
   * read-ahead): the kernel transport writes its reply from there instead of copying. The same
   * reader bookkeeping as {@link #read}; when this returns null, read() is called and does it.
   */
  @Override
  public Loan lend(long offset, int len) throws IOException {
    if (mount.warming() || !ModelMount.LEND) {
      return null;
    }
    HeldBytes held = h.lend(offset, len); // does not block: null unless every chunk is here
    if (held == null) {
      return null;
    }
    if (tracker != null) {
      tracker.onRead(offset, len);
    }
    served(held.length());
    return new Loan() {
      @Override
      public ByteBuffer[] parts() {
        return held.parts();
      }

      @Override
      public int length() {
        return held.length();
      }

      @Override
      public void close() {
        held.close();
      }
    };
  }

  /** Bytes the kernel transport spliced from the pinned cache file: the same bookkeeping as a read. */
  @Override
  public void servedInPlace(long offset, int len) {
    if (mount.warming()) {
      return;
    }
    if (tracker != null) {
      tracker.onRead(offset, len);
    }
    h.servedInPlace(offset, len);
    served(len);
  }

  private void served(int n) {
    mount.served(h, tracker != null, n);
  }

  /** Verified bytes only once the blob is complete: before that the kernel must not keep pages across opens. */
  @Override
  public boolean contentFinal() {
    return h.isComplete();
  }

  /**
   * The blob's cache file, pinned, when the blob is complete and verified now (the cache decides:
   * see {@link BlobHandle#pinFile()}); a file still streaming in is served by {@link #read}.
   */
  @Override
  public Optional<BackingFile> backing() {
    // After a restart the first ask queues a read-back of the mount's cached files: this open is
    // the daemon's (it checks what it loads), later opens of files read back get the file.
    mount.readBackInBackground();
    return h.pinFile().map(MountReader::backingOf);
  }

  /** The same, for a file the kernel reads in passthrough since before a restart. */
  @Override
  public Optional<BackingFile> backingInUse() {
    return h.pinFileInUse().map(MountReader::backingOf);
  }

  private static BackingFile backingOf(PinnedFile p) {
    return new BackingFile() {
      @Override
      public java.nio.file.Path path() {
        return p.path();
      }

      @Override
      public long length() {
        return p.length();
      }

      @Override
      public void close() {
        p.close();
      }
    };
  }
}
