package io.modelcache.fuse;

import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.byref.PointerByReference;
import jnr.ffi.types.size_t;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import ru.serce.jnrfuse.struct.FuseOperations;

/**
 * libfuse2's request loop, run on a fixed pool of Java threads instead of {@code fuse_loop_mt}.
 *
 * <p>Why: {@code fuse_loop_mt} starts a new native thread whenever every worker is busy and ends
 * workers once more than ten are idle. A cold read blocks its worker until the chunk arrives, so
 * a sequential reader made libfuse start and end a thread for almost every 128 KiB request
 * (13,325 thread starts for 16,386 reads of a 2 GiB model), and each new native thread had to be
 * attached to the JVM before its callback could run. Java threads that call {@code fuse_chan_recv}
 * and {@code fuse_session_process} themselves are attached once and get their callbacks on the
 * same thread. Requests beyond the pool wait in the kernel's queue.
 *
 * <p>Threading: {@link #run} blocks the calling thread until the session ends (unmount), using it
 * as one of the workers.
 */
final class FuseLoop {
  private static final Logger LOG = LoggerFactory.getLogger(FuseLoop.class);
  private static final int EINTR = 4;
  private static final int EAGAIN = 11;

  /** The libfuse 2.9 entry points the loop needs (all exported with default symbol versions). */
  public interface LibFuseSession {
    Pointer fuse_setup(int argc, String[] argv, FuseOperations op, @size_t long opSize, PointerByReference mountpoint,
        IntByReference multithreaded, Pointer userData);

    void fuse_teardown(Pointer fuse, Pointer mountpoint);

    Pointer fuse_get_session(Pointer fuse);

    Pointer fuse_session_next_chan(Pointer session, Pointer chan);

    @size_t long fuse_chan_bufsize(Pointer chan);

    int fuse_chan_recv(PointerByReference chan, Pointer buf, @size_t long size);

    void fuse_session_process(Pointer session, Pointer buf, @size_t long len, Pointer chan);

    int fuse_session_exited(Pointer session);

    void fuse_session_exit(Pointer session);
  }

  private static volatile LibFuseSession lib;

  private FuseLoop() {}

  private static LibFuseSession lib() {
    LibFuseSession l = lib;
    if (l == null) {
      l = LibraryLoader.create(LibFuseSession.class).failImmediately().load("fuse");
      lib = l;
    }
    return l;
  }

  /** Binds the libfuse entry points now (a one-time cost the first mount would otherwise pay). */
  static void bind() {
    lib();
  }

  /**
   * Mounts with {@code args} (as for fuse_main: -f, -o ..., the mountpoint) and serves requests on
   * {@code threads} threads until unmounted. Returns 0 after a clean unmount, 1 if setup failed.
   */
  static int run(String[] args, FuseOperations ops, long opsSize, int threads, String name) {
    LibFuseSession l = lib();
    PointerByReference mountpoint = new PointerByReference();
    IntByReference multithreaded = new IntByReference();
    Pointer fuse = l.fuse_setup(args.length, args, ops, opsSize, mountpoint, multithreaded, null);
    if (fuse == null) {
      return 1;
    }
    try {
      Pointer session = l.fuse_get_session(fuse);
      Pointer chan = l.fuse_session_next_chan(session, null);
      long bufsize = l.fuse_chan_bufsize(chan);
      List<Thread> workers = new ArrayList<>();
      for (int i = 1; i < threads; i++) {
        Thread t = new Thread(() -> serve(l, session, chan, bufsize), name + " worker " + i);
        t.setDaemon(true);
        t.start();
        workers.add(t);
      }
      serve(l, session, chan, bufsize);
      for (Thread t : workers) {
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      return 0;
    } finally {
      l.fuse_teardown(fuse, mountpoint.getValue());
    }
  }

  /** One worker: receive a request, let libfuse dispatch it to the callbacks, repeat. */
  private static void serve(LibFuseSession l, Pointer session, Pointer chan, long bufsize) {
    Pointer buf = Memory.allocateDirect(jnr.ffi.Runtime.getRuntime(l), bufsize);
    while (l.fuse_session_exited(session) == 0) {
      PointerByReference ch = new PointerByReference(chan);
      int res = l.fuse_chan_recv(ch, buf, bufsize);
      if (res == -EINTR || res == -EAGAIN) {
        continue;
      }
      if (res <= 0) {
        if (res < 0) {
          LOG.warn("reading /dev/fuse failed: errno {}", -res);
        }
        l.fuse_session_exit(session); // 0: unmounted; the other workers see it on their next read
        break;
      }
      l.fuse_session_process(session, buf, res, ch.getValue());
    }
  }
}
