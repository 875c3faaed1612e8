package io.modelcache.fuse;

import io.modelcache.fuse.kernel.KernelFs;
import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.ReplyData;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One FUSE connection served by the {@link KernelServer}: the connection's own /dev/fuse descriptor
 * (the session descriptor, the one mount(2) got; kept open and reachable through
 * {@link #sessionFd()} so that it can be handed to another process), and a clone of it
 * (FUSE_DEV_IOC_CLONE, non-blocking) that the workers read and answer on.
 *
 * <p>{@link #start} serves a fresh mount (INIT comes first); {@link #adopt} serves a descriptor of a
 * connection that an earlier server initialised (no INIT comes; node ids and handles are derived
 * from the tree, so the ids the kernel holds still mean the same nodes).
 *
 * <p>The session ends when the kernel says the connection is gone (ENODEV: unmounted or aborted):
 * once no worker is inside it, both descriptors are closed, readers the kernel never released are
 * closed, and {@link #ended()} completes. Threading: workers call {@link #serveOne} concurrently.
 */
final class KernelSession implements Mounted.Served {
  private static final Logger LOG = LoggerFactory.getLogger(KernelSession.class);

  private final int sessionFd;
  private final int serveFd;
  private final KernelFs fs;
  private final String name;
  private final CompletableFuture<Negotiated> ready = new CompletableFuture<>();
  private final CompletableFuture<Integer> ended = new CompletableFuture<>();
  /** Workers inside {@link #serveOne}; -1 once closed. */
  private final AtomicInteger inside = new AtomicInteger();
  private volatile boolean ending;
  /** Handing the connection over: read nothing more, answer nothing more (the next server will). */
  private volatile boolean leaving;
  private KernelServer server;
  /** The key of this session's epoll registration. */
  long key;

  private KernelSession(int sessionFd, int serveFd, KernelFs fs, String name) {
    this.sessionFd = sessionFd;
    this.serveFd = serveFd;
    this.fs = fs;
    this.name = name;
  }

  /** Serves the connection of {@code sessionFd} (just mounted: INIT comes first). */
  static KernelSession start(int sessionFd, KernelFs fs, KernelServer server, String name) throws IOException {
    KernelSession s = new KernelSession(sessionFd, cloneOf(sessionFd), fs, name);
    s.server = server;
    server.register(s);
    return s;
  }

  /**
   * Serves {@code sessionFd}, a descriptor of a connection an earlier server initialised with
   * {@code earlier}; no INIT comes.
   */
  static KernelSession adopt(int sessionFd, Negotiated earlier, KernelFs fs, KernelServer server, String name)
      throws IOException {
    fs.adopted(earlier);
    KernelSession s = new KernelSession(sessionFd, cloneOf(sessionFd), fs, name);
    s.ready.complete(earlier);
    s.server = server;
    server.register(s);
    return s;
  }

  private static int cloneOf(int sessionFd) throws IOException {
    int fd = Sys.open(FusePrerequisites.DEVICE.toString(), Sys.O_RDWR | Sys.O_CLOEXEC | Sys.O_NONBLOCK);
    if (fd < 0) {
      throw new IOException("cannot open " + FusePrerequisites.DEVICE + " to clone a FUSE connection: errno " + -fd);
    }
    int rc = Sys.cloneFuseDevice(fd, sessionFd);
    if (rc < 0) {
      Sys.close(fd);
      throw new IOException("FUSE_DEV_IOC_CLONE failed: errno " + -rc);
    }
    return fd;
  }

  /** The connection's own descriptor (what mount(2) got); open until the session ends. */
  int sessionFd() {
    return sessionFd;
  }

  int serveFd() {
    return serveFd;
  }

  KernelFs fs() {
    return fs;
  }

  /** Completes once INIT has been answered (at once for an adopted connection). */
  CompletableFuture<Negotiated> ready() {
    return ready;
  }

  /** Completes (with 0) once the connection is gone and both descriptors are closed. */
  CompletableFuture<Integer> ended() {
    return ended;
  }

  @Override
  public Map<String, Long> counts() {
    return fs.wrapper().counts();
  }

  @Override
  public void closeAll() {
    fs.closeAll();
  }

  /**
   * One request: read it, re-arm, handle, reply. Called by a worker that epoll woke for this
   * session, with its own buffers and its slot for a READ reply's data outside the reply buffer ({@code data}).
   */
  void serveOne(MemorySegment request, MemorySegment reply, ReplyData data, KernelServer by) {
    if (!enter()) {
      return;
    }
    try {
      long n = Sys.read(serveFd, request, request.byteSize());
      if (n == -Sys.ENODEV) {
        end(); // unmounted or aborted
        return;
      }
      if (n < 0 && n != -Sys.EAGAIN && n != -Sys.EINTR && n != -Sys.ENOENT) {
        LOG.error("reading FUSE requests of {} failed: errno {}; ending the session", name, -n);
        end();
        return;
      }
      by.rearm(this);
      if (n <= 0) {
        return; // another worker took it, or the request was interrupted before we read it
      }
      int opcode = KernelFs.opcode(request);
      int len = fs.handle(request, (int) n, reply, data);
      if (leaving) {
        // Unanswered, the request stays in the kernel's processing queue of this (kept) descriptor
        // and FUSE_NOTIFY_RESEND gives it to the next server: better than an answer made while the
        // daemon's cache is closing, which could be an error.
        return;
      }
      if (len > 0) {
        long w = data.send(serveFd, reply, len);
        // ENOENT: the request was interrupted and is gone; ENODEV: the connection is gone.
        if (w < 0 && w != -Sys.ENOENT && w != -Sys.ENODEV) {
          LOG.warn("writing a FUSE reply (opcode {}) for {} failed: errno {}", opcode, name, -w);
        }
      }
      if (opcode == FuseAbi.INIT) {
        fs.negotiated().whenComplete((v, e) -> {
          if (v != null) {
            ready.complete(v);
          }
        });
      }
    } finally {
      try {
        data.clear(); // a loan or a spliced range is given back on every path
      } finally {
        exit();
      }
    }
  }

  private boolean enter() {
    while (true) {
      int c = inside.get();
      if (c < 0 || ending || leaving) {
        return false;
      }
      if (inside.compareAndSet(c, c + 1)) {
        return true;
      }
    }
  }

  private void exit() {
    if (inside.decrementAndGet() == 0 && ending) {
      closeIfIdle();
    }
  }

  /**
   * Stops serving for a handover: no more requests are read, and replies still being made are not
   * written (the kernel keeps those requests; the next server gets them again after
   * FUSE_NOTIFY_RESEND). The connection stays mounted and both descriptors stay open: whoever keeps
   * duplicates of them keeps it alive. Waits up to {@code wait} for workers inside to return.
   *
   * @return whether no worker was inside any more
   */
  boolean leave(java.time.Duration wait) {
    leaving = true;
    fs.left();
    if (server != null) {
      server.forget(this);
    }
    long deadline = System.nanoTime() + wait.toNanos();
    while (inside.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return inside.get() <= 0;
  }

  /** The connection is gone: stop serving; close once no worker is inside. */
  void end() {
    ending = true;
    if (server != null) {
      server.forget(this);
    }
    closeIfIdle();
  }

  private void closeIfIdle() {
    if (inside.compareAndSet(0, -1)) {
      Sys.close(serveFd);
      Sys.close(sessionFd);
      try {
        fs.closeAll();
      } finally {
        ended.complete(0);
        LOG.debug("FUSE session {} ended", name);
      }
    }
  }

  @Override
  public String toString() {
    return "KernelSession[" + name + "]";
  }
}
