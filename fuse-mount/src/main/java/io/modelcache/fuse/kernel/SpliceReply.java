package io.modelcache.fuse.kernel;

import io.modelcache.fuse.Errno;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a FUSE reply whose data is a file range without copying it through the daemon: the
 * 16-byte {@code fuse_out_header} is written into a pipe, the range is spliced from the file into
 * the same pipe (page references, no copy), and the pipe is spliced into the FUSE device in one
 * call (the kernel's {@code fuse_dev_splice_write} wants the whole reply in the pipe; it copies the
 * data into the request's pages). One pipe per serving thread, of at least max_write plus a page
 * (F_SETPIPE_SZ beyond /proc/sys/fs/pipe-max-size needs CAP_SYS_RESOURCE).
 *
 * <p>Threading: {@link #forThread()} gives each thread its own; instances are not shared.
 */
public final class SpliceReply {
  private static final Logger LOG = LoggerFactory.getLogger(SpliceReply.class);
  private static final ThreadLocal<SpliceReply> PER_THREAD = ThreadLocal.withInitial(SpliceReply::new);
  /** Room for a 1 MiB reply that starts mid-page, plus its header (rounded up to 2 MiB by the kernel). */
  static final int PIPE_SIZE = (1 << 20) + 2 * KernelFs.BLOCK;

  private int readEnd = -1;
  private int writeEnd = -1;

  private SpliceReply() {}

  /** This thread's. */
  public static SpliceReply forThread() {
    return PER_THREAD.get();
  }

  /**
   * Writes the reply whose header is the first 16 bytes of {@code header} (its len says header
   * plus {@code range.length()}) and whose data is {@code range}, to {@code devFd}. Returns the
   * bytes written or -errno as for write(2). When the range cannot be put in the pipe (no pipe of
   * that size, the file shorter than the range, a read error), nothing of it reaches the device and
   * the read is answered EIO with write(2) instead.
   */
  public long send(int devFd, MemorySegment header, SpliceSource.Range range) {
    int head = KernelFs.OUT_SIZE;
    long total = head + (long) range.length();
    if (readEnd < 0 && !open()) {
      return failed(devFd, header);
    }
    long w = Sys.write(writeEnd, header, head);
    if (w != head) {
      reset();
      return failed(devFd, header);
    }
    long done = 0;
    while (done < range.length()) {
      long n = Sys.splice(range.fd(), range.fdOffset() + done, writeEnd, range.length() - done, 0);
      if (n == -Sys.EINTR) {
        continue;
      }
      if (n <= 0) {
        LOG.warn("splicing {} bytes at {} of descriptor {} into a pipe stopped after {}: {}", range.length(),
            range.fdOffset(), range.fd(), done, n == 0 ? "end of file" : "errno " + -n);
        reset();
        return failed(devFd, header);
      }
      done += n;
    }
    long out;
    do {
      out = Sys.splice(readEnd, -1, devFd, total, 0);
    } while (out == -Sys.EINTR);
    if (out != total) {
      reset(); // whatever the device left in the pipe must not prefix the next reply
    }
    return out;
  }

  /** Answers the read of {@code header} with EIO (header only, written with write(2)). */
  private static long failed(int devFd, MemorySegment header) {
    Wire.header(header, KernelFs.OUT_SIZE, -Errno.EIO, Wire.u64(header, FuseAbi.off(FuseAbi.OUT_HEADER, "unique")));
    return Sys.write(devFd, header, KernelFs.OUT_SIZE);
  }

  private boolean open() {
    int[] fds = new int[2];
    int rc = Sys.pipe2(fds, Sys.O_CLOEXEC | Sys.O_NONBLOCK);
    if (rc < 0) {
      LOG.warn("pipe2 for a splice reply failed: errno {}", -rc);
      return false;
    }
    int sz = Sys.fcntl(fds[1], Sys.F_SETPIPE_SZ, PIPE_SIZE);
    if (sz < PIPE_SIZE) {
      LOG.warn("cannot make a pipe of {} bytes for splice replies (F_SETPIPE_SZ: {}); see /proc/sys/fs/pipe-max-size",
          PIPE_SIZE, sz < 0 ? "errno " + -sz : sz);
      Sys.close(fds[0]);
      Sys.close(fds[1]);
      return false;
    }
    readEnd = fds[0];
    writeEnd = fds[1];
    return true;
  }

  private void reset() {
    if (readEnd >= 0) {
      Sys.close(readEnd);
      Sys.close(writeEnd);
    }
    readEnd = -1;
    writeEnd = -1;
  }
}
