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

    /** A channel over an already mounted /dev/fuse descriptor (for mounts made with mount(2) here). */
    Pointer fuse_kern_chan_new(int fd);

    void fuse_destroy(Pointer fuse);
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
      serveAll(l, fuse, threads, name);
      return 0;
    } finally {
      l.fuse_teardown(fuse, mountpoint.getValue());
    }
  }

  /**
   * Serves a mount already made with mount(2) on {@code devFd} (see {@link OwnedMount}) until it is
   * unmounted; {@code libArgs} are libfuse's own options (-o kernel_cache,attr_timeout=...). Returns 0
   * after a clean unmount, 1 if libfuse would not start; the descriptor is closed either way.
   */
  static int runMounted(int devFd, String[] libArgs, FuseOperations ops, long opsSize, int threads, String name) {
    LibFuseSession l = lib();
    jnr.ffi.Runtime rt = jnr.ffi.Runtime.getRuntime(l);
    Pointer chan = l.fuse_kern_chan_new(devFd);
    if (chan == null) {
      NativeLibc.close(devFd);
      return 1;
    }
    // fuse_args keep nothing after fuse_new; the operations are copied into struct fuse, their
    // callbacks stay alive with ops. Heap-backed struct memory is copied to native memory first.
    Pointer opsMem = jnr.ffi.Struct.getMemory(ops);
    Pointer nativeOps = opsMem;
    if (!opsMem.isDirect()) {
      nativeOps = Memory.allocateDirect(rt, opsSize, true);
      byte[] copy = new byte[(int) opsSize];
      opsMem.get(0, copy, 0, copy.length);
      nativeOps.put(0, copy, 0, copy.length);
    }
    long address = FuseNew.call(chan.address(), libArgs, nativeOps.address(), opsSize);
    java.lang.ref.Reference.reachabilityFence(nativeOps);
    Pointer fuse = address == 0 ? null : Pointer.wrap(rt, address);
    if (fuse == null) {
      return 1; // the descriptor is left open: libfuse may or may not have closed it already
    }
    try {
      serveAll(l, fuse, threads, name);
      return 0;
    } finally {
      l.fuse_destroy(fuse); // destroys the session and its channel, closing the descriptor
    }
  }

  private static void serveAll(LibFuseSession l, Pointer fuse, int threads, String name) {
    { // one scope, as before the split
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
