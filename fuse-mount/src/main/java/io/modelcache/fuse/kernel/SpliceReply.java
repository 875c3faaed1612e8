package io.modelcache.fuse.kernel;

import io.modelcache.fuse.Errno;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a FUSE reply whose data is a file range without copying it through the daemon: the
 * 16-byte {@code fuse_out_header} is written into a pipe, the range is spliced from the file into
 * the same pipe (page references, no copy), and the pipe is spliced into the FUSE device in one
 * call (the kernel's {@code fuse_dev_splice_write} wants the whole reply in the pipe; it copies the
 * data into the request's pages). Measured against write(2) from the reply buffer: a third less
 * CPU per GiB (docs/performance.md, "Splice replies against write(2)").
 *
 * <p><b>Pipe size.</b> One pipe per serving thread, made at its first spliced reply. The header takes
 * one pipe buffer and the range one per page it spans, and the whole reply must fit: a 1 MiB read
 * needs 257 buffers, so the pipe is asked for 2 MiB. Beyond /proc/sys/fs/pipe-max-size (1 MiB by
 * default) that needs CAP_SYS_RESOURCE (the shipped systemd unit keeps it in its bounding set);
 * without it the pipe is as large as the system allows, replies that do not fit ({@link #fits}) are
 * copied as before, and that is said once per process. Past the per-user pipe page limit a thread gets no pipe and copies.
 *
 * <p>Threading: {@link #forThread()} gives each thread its own; instances are not shared. The
 * counter of spliced replies is process-wide.
 */
public final class SpliceReply {
  private static final Logger LOG = LoggerFactory.getLogger(SpliceReply.class);
  private static final ThreadLocal<SpliceReply> PER_THREAD = ThreadLocal.withInitial(SpliceReply::new);
  /** Room for a 1 MiB reply that starts mid-page, plus its header (rounded up to 2 MiB by the kernel). */
  static final int PIPE_SIZE = (1 << 20) + 2 * Sys.PAGE_SIZE;
  /** The default pipe-max-size, asked for when {@link #PIPE_SIZE} is refused. */
  private static final int FALLBACK_PIPE_SIZE = 1 << 20;
  /**
   * Smaller replies are copied: below this the three system calls of a splice save less than the
   * copy costs (the saving was measured on 1 MiB replies; this bound is a judgement, not a measurement).
   */
  static final int MIN_SPLICE = 32 * 1024;
  /** A thread that could not make its pipe tries again after this many replies (about 4 GiB of 1 MiB reads). */
  static final int RETRY_AFTER = 4096;
  private static final LongAdder SENT = new LongAdder();
  private static final AtomicBoolean LOGGED_SMALL = new AtomicBoolean();
  private static final AtomicBoolean LOGGED_NONE = new AtomicBoolean();

  private int readEnd = -1;
  private int writeEnd = -1;
  /** Pipe buffers (pages) of this thread's pipe; 0 before it is made, -1 when it cannot be. */
  private int slots;
  /** Replies left to copy before a thread without a pipe tries to make one again. */
  private int retryIn;

  private SpliceReply() {}

  /** This thread's. */
  public static SpliceReply forThread() {
    return PER_THREAD.get();
  }

  /** Replies spliced by this process so far. */
  public static long sent() {
    return SENT.sum();
  }

  /**
   * Whether the reply of {@code range} is to be spliced: it is not small, and it fits this thread's
   * pipe (made now if this thread has none yet). False means: copy it into the reply buffer.
   */
  public boolean fits(SplicedFile.Range range) {
    if (range.length() < MIN_SPLICE) {
      return false;
    }
    if (slots < 0 && --retryIn <= 0) {
      slots = 0; // the failure may have passed (descriptors or pipe pages freed): try again
    }
    if (slots == 0 && !open()) {
      noPipe();
    }
    long first = range.fdOffset() / Sys.PAGE_SIZE;
    long last = (range.fdOffset() + range.length() - 1) / Sys.PAGE_SIZE;
    return slots > 0 && 1 + (last - first + 1) <= slots;
  }

  /**
   * Writes the reply whose header is the first 16 bytes of {@code header} (its len says header
   * plus {@code range.length()}) and whose data is {@code range}, to {@code devFd}. Returns the
   * bytes written or -errno as for write(2). When the range cannot be put in the pipe (no pipe, one
   * too small for it: ask {@link #fits} first), nothing of it reaches the device and it is read
   * into {@code header}'s buffer and written as a copied reply instead; a file shorter than the range
   * or a read error answers EIO. When the device refuses the spliced reply for a reason other than
   * the request being gone, the read is answered EIO, so no reader waits for an answer that never comes.
   */
  public long send(int devFd, MemorySegment header, SplicedFile.Range range) {
    int head = KernelFs.OUT_SIZE;
    long total = head + (long) range.length();
    if (readEnd < 0 && !open()) {
      noPipe();
      return copied(devFd, header, range);
    }
    long w = Sys.write(writeEnd, header, head);
    if (w != head) {
      reset();
      return copied(devFd, header, range);
    }
    long done = 0;
    while (done < range.length()) {
      long n = Sys.splice(range.fd(), range.fdOffset() + done, writeEnd, range.length() - done, 0);
      if (n == -Sys.EINTR) {
        continue;
      }
      if (n <= 0) {
        reset();
        if (n == -Sys.EAGAIN) {
          return copied(devFd, header, range); // the pipe is full: it holds fewer pages than fits() assumed
        }
        LOG.warn("splicing {} bytes at {} of descriptor {} into a pipe stopped after {}: {}", range.length(),
            range.fdOffset(), range.fd(), done, n == 0 ? "end of file" : "errno " + -n);
        return failed(devFd, header);
      }
      done += n;
    }
    long out;
    do {
      out = Sys.splice(readEnd, -1, devFd, total, 0);
    } while (out == -Sys.EINTR);
    if (out == total) {
      SENT.increment();
      return out;
    }
    reset(); // whatever the device left in the pipe must not prefix the next reply
    if (out < 0 && out != -Sys.ENOENT && out != -Sys.ENODEV) {
      LOG.warn("splicing a {}-byte READ reply into the FUSE device failed (errno {}); answered EIO", total, -out);
      return failed(devFd, header);
    }
    return out;
  }

  /**
   * The reply of {@code range} read into the buffer behind {@code header} and written with write(2);
   * EIO when the buffer cannot hold it or the file gives fewer bytes than the range.
   */
  static long copied(int devFd, MemorySegment header, SplicedFile.Range range) {
    int head = KernelFs.OUT_SIZE;
    long total = head + (long) range.length();
    if (header.byteSize() < total || !header.isNative()) {
      return failed(devFd, header);
    }
    long done = 0;
    while (done < range.length()) {
      long n = Sys.pread(range.fd(), header.asSlice(head + done), range.length() - done, range.fdOffset() + done);
      if (n == -Sys.EINTR) {
        continue;
      }
      if (n <= 0) {
        LOG.warn("reading {} bytes at {} of descriptor {} stopped after {}: {}", range.length(), range.fdOffset(),
            range.fd(), done, n == 0 ? "end of file" : "errno " + -n);
        return failed(devFd, header);
      }
      done += n;
    }
    return Sys.write(devFd, header, total);
  }

  /** Answers the read of {@code header} with EIO (header only, written with write(2)). */
  private static long failed(int devFd, MemorySegment header) {
    Wire.header(header, KernelFs.OUT_SIZE, -Errno.EIO, Wire.u64(header, FuseAbi.off(FuseAbi.OUT_HEADER, "unique")));
    return Sys.write(devFd, header, KernelFs.OUT_SIZE);
  }

  /** No pipe for this thread: its replies are copied, and it tries again after {@link #RETRY_AFTER} of them. */
  private void noPipe() {
    slots = -1;
    retryIn = RETRY_AFTER;
  }

  private boolean open() {
    int[] fds = new int[2];
    int rc = Sys.pipe2(fds, Sys.O_CLOEXEC | Sys.O_NONBLOCK);
    if (rc < 0) {
      if (LOGGED_NONE.compareAndSet(false, true)) {
        LOG.warn("pipe2 for splice replies failed (errno {}); replies of this thread are copied", -rc);
      }
      return false;
    }
    int sz = Sys.fcntl(fds[1], Sys.F_SETPIPE_SZ, PIPE_SIZE);
    if (sz < PIPE_SIZE) {
      int small = Sys.fcntl(fds[1], Sys.F_SETPIPE_SZ, FALLBACK_PIPE_SIZE);
      int got = small > 0 ? small : Sys.fcntl(fds[1], Sys.F_GETPIPE_SZ, 0);
      if (got <= 2 * Sys.PAGE_SIZE) {
        if (LOGGED_NONE.compareAndSet(false, true)) {
          LOG.warn("no pipe for splice replies (F_SETPIPE_SZ {}: {}); READ replies are copied", PIPE_SIZE,
              sz < 0 ? "errno " + -sz : sz);
        }
        Sys.close(fds[0]);
        Sys.close(fds[1]);
        return false;
      }
      if (LOGGED_SMALL.compareAndSet(false, true)) {
        LOG.info("READ replies over {} KiB are copied, not spliced: a pipe of {} bytes needs CAP_SYS_RESOURCE or"
            + " /proc/sys/fs/pipe-max-size >= {} (F_SETPIPE_SZ: {}; this pipe holds {} bytes)",
            (got / Sys.PAGE_SIZE - 2) * (Sys.PAGE_SIZE / 1024), PIPE_SIZE, 2 << 20, sz < 0 ? "errno " + -sz : sz, got);
      }
      sz = got;
    }
    readEnd = fds[0];
    writeEnd = fds[1];
    slots = sz / Sys.PAGE_SIZE;
    return true;
  }

  private void reset() {
    if (readEnd >= 0) {
      Sys.close(readEnd);
      Sys.close(writeEnd);
    }
    readEnd = -1;
    writeEnd = -1;
    slots = 0; // made again at the next spliced reply
  }
}
