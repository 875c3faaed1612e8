package io.modelcache.fuse.kernel;

import io.modelcache.fuse.Loan;
import io.modelcache.fuse.kernel.sys.Sys;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * Where a READ reply's data is when it is not in the reply buffer: a range of a file to splice
 * ({@link SplicedFile}) or memory a reader lent ({@link Loan}). {@link KernelFs#handle} fills it,
 * {@link #send} writes the reply and gives a loan back. One per worker, reused for every request.
 *
 * <p>A lent reply is one writev(2) of the 16-byte header and the loan's buffers, so the bytes are
 * copied once, by the kernel, instead of once into the reply buffer and once more by the kernel.
 * The iovec array is built in the reply buffer behind the header: the data area is unused then.
 */
public final class ReplyData {
  /** Loans with more parts than this are copied into the reply buffer (IOV_MAX is 1024). */
  static final int MAX_PARTS = 256;
  private SplicedFile.Range range;
  private SplicedFile rangeOf;
  private Loan loan;

  SplicedFile.Range range() {
    return range;
  }

  Loan loan() {
    return loan;
  }

  /** A range {@code of} gave ({@link SplicedFile#take}); its use ends when this is sent or cleared. */
  void range(SplicedFile.Range r, SplicedFile of) {
    clear();
    range = r;
    rangeOf = of;
  }

  void loan(Loan l) {
    clear();
    loan = l;
  }

  /** Gives back a loan or a range that was not sent and forgets the data. */
  public void clear() {
    Loan l = loan;
    SplicedFile f = rangeOf;
    loan = null;
    range = null;
    rangeOf = null;
    if (l != null) {
      l.close();
    }
    if (f != null) {
      f.done();
    }
  }

  /**
   * Writes the reply of {@code len} bytes (header plus data) whose header is in {@code reply}: from
   * the reply buffer, the spliced range or the loan. Returns what write(2) returns; always clears.
   */
  public long send(int devFd, MemorySegment reply, int len) {
    try {
      if (range != null) {
        return SpliceReply.forThread().send(devFd, reply, range);
      }
      if (loan != null) {
        return sendLoan(devFd, reply, len);
      }
      return Sys.write(devFd, reply, len);
    } finally {
      clear();
    }
  }

  private long sendLoan(int devFd, MemorySegment reply, int len) {
    ByteBuffer[] parts = loan.parts();
    long iovBytes = 16L * (parts.length + 1);
    if (parts.length > MAX_PARTS || KernelFs.OUT_SIZE + iovBytes > reply.byteSize() || !reply.isNative() || !allDirect(parts)) {
      copyInto(reply, parts);
      return Sys.write(devFd, reply, len);
    }
    MemorySegment iov = reply.asSlice(KernelFs.OUT_SIZE, iovBytes); // struct iovec { void *base; size_t len; }
    iov.set(ValueLayout.ADDRESS, 0, reply);
    iov.set(ValueLayout.JAVA_LONG, 8, KernelFs.OUT_SIZE);
    for (int i = 0; i < parts.length; i++) {
      MemorySegment s = MemorySegment.ofBuffer(parts[i]);
      iov.set(ValueLayout.ADDRESS, 16L * (i + 1), s);
      iov.set(ValueLayout.JAVA_LONG, 16L * (i + 1) + 8, s.byteSize());
    }
    return Sys.writev(devFd, iov, parts.length + 1);
  }

  private static boolean allDirect(ByteBuffer[] parts) {
    for (ByteBuffer p : parts) {
      if (!p.isDirect()) {
        return false;
      }
    }
    return true;
  }

  /** The loan's bytes behind the header, for a reply that cannot be written from the loan itself. */
  static void copyInto(MemorySegment reply, ByteBuffer[] parts) {
    long at = KernelFs.OUT_SIZE;
    for (ByteBuffer p : parts) {
      MemorySegment s = MemorySegment.ofBuffer(p);
      MemorySegment.copy(s, 0, reply, at, s.byteSize());
      at += s.byteSize();
    }
  }
}
