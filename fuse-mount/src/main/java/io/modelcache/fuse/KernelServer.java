package io.modelcache.fuse;

import io.modelcache.fuse.kernel.InitConfig;
import io.modelcache.fuse.kernel.sys.Sys;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one bounded set of serving threads for every kernel-transport mount of this process.
 *
 * <p>Each mount registers its serving descriptor (a clone of its /dev/fuse connection, non-blocking)
 * in one epoll set with EPOLLONESHOT. A worker waits in epoll_wait, reads one request from the
 * descriptor that is ready, re-arms it at once (so another worker can take the next request of the
 * same mount while this one is served), handles the request and writes the reply on the same
 * descriptor. So 100 mounts are served by the same {@link #workers()} threads as one, and a cold
 * read that blocks its worker leaves the others serving. Workers are platform daemon threads: they
 * block in native calls (epoll_wait, the tree's reads), which would pin a virtual thread's carrier.
 *
 * <p>Threading: {@link #register} from any thread; everything else runs on the workers.
 */
final class KernelServer {
  private static final Logger LOG = LoggerFactory.getLogger(KernelServer.class);
  /** Serving threads shared by all mounts; a cold read holds one until its chunk arrives. */
  static final int DEFAULT_WORKERS = Integer.getInteger("modelcache.fuse.kernel.workers", 32);

  private static KernelServer shared;

  private final int epfd;
  private final int workers;
  private final int replySize;
  private final Map<Long, KernelSession> sessions = new ConcurrentHashMap<>();
  private final AtomicLong keys = new AtomicLong();
  private final List<Thread> threads = new ArrayList<>();

  /** The process's server, started on first use. */
  static synchronized KernelServer shared() throws IOException {
    if (shared == null) {
      shared = new KernelServer(DEFAULT_WORKERS, InitConfig.defaults().replyBufferSize());
    }
    return shared;
  }

  KernelServer(int workers, int replySize) throws IOException {
    int fd = Sys.epollCreate();
    if (fd < 0) {
      throw new IOException("cannot create an epoll set for FUSE: errno " + -fd);
    }
    this.epfd = fd;
    this.workers = workers;
    this.replySize = replySize;
    for (int i = 0; i < workers; i++) {
      Thread t = new Thread(this::work, "modelcache-fuse-" + i);
      t.setDaemon(true);
      t.start();
      threads.add(t);
    }
    LOG.debug("FUSE kernel transport: {} serving threads for all mounts", workers);
  }

  int workers() {
    return workers;
  }

  /** Mounts served now. */
  int sessions() {
    return sessions.size();
  }

  /** Starts serving {@code s}'s descriptor. */
  void register(KernelSession s) throws IOException {
    long key = keys.incrementAndGet();
    s.key = key;
    sessions.put(key, s);
    int rc = Sys.epollCtl(epfd, Sys.EPOLL_CTL_ADD, s.serveFd(), Sys.EPOLLIN | Sys.EPOLLONESHOT, key);
    if (rc < 0) {
      sessions.remove(key);
      throw new IOException("cannot watch the FUSE descriptor: epoll_ctl errno " + -rc);
    }
  }

  /** Lets the next request of {@code s} wake a worker. */
  void rearm(KernelSession s) {
    int rc = Sys.epollCtl(epfd, Sys.EPOLL_CTL_MOD, s.serveFd(), Sys.EPOLLIN | Sys.EPOLLONESHOT, s.key);
    if (rc < 0) {
      LOG.warn("re-arming the FUSE descriptor of {} failed: errno {}", s, -rc);
    }
  }

  /** {@code s} is ending: no more events for it (its descriptor leaves the set when it is closed). */
  void forget(KernelSession s) {
    sessions.remove(s.key);
  }

  private void work() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment event = arena.allocate(Sys.EPOLL_EVENT_SIZE, 8);
      MemorySegment request = arena.allocate(InitConfig.requestBufferSize(), 8);
      MemorySegment reply = arena.allocate(replySize, 8);
      // This worker's slot for a READ reply's data outside the reply buffer (a spliced range, a loan).
      io.modelcache.fuse.kernel.ReplyData data = new io.modelcache.fuse.kernel.ReplyData();
      while (true) {
        try {
          int n = Sys.epollWait(epfd, event, 1, -1);
          if (n <= 0) {
            if (n < 0 && n != -Sys.EINTR) {
              LOG.error("epoll_wait for FUSE failed: errno {}", -n);
              Thread.sleep(100);
            }
            continue;
          }
          KernelSession s = sessions.get(Sys.epollData(event, 0));
          if (s != null) {
            s.serveOne(request, reply, data, this);
          }
        } catch (Throwable t) {
          LOG.error("FUSE serving thread caught {}; serving on", t.toString(), t);
        }
      }
    }
  }
}
