package io.modelcache.handover;

import io.modelcache.os.ErrnoException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps descriptors in a holder process reached at {@code <home>/holder.sock}, started on demand
 * (by {@link #prepare} when a mount begins, or else by the first {@link #keep}) and left to exit on
 * its own once it holds nothing. If the holder goes
 * away while the daemon runs, the next {@link #keep} starts a new one and hands it everything kept so
 * far again. The descriptors given to {@link #keep} stay the caller's: it must {@link #release} a
 * name before closing its descriptor.
 */
public final class HolderKeeper implements FdKeeper {
  private static final Logger LOG = LoggerFactory.getLogger(HolderKeeper.class);

  private record Mine(int fd, Map<String, String> meta) {}

  private final Path socket;
  private final Duration grace;
  private final Path log;
  private final Map<String, Mine> kept = new LinkedHashMap<>();
  private HolderClient client;

  public HolderKeeper(Path home, Duration grace) {
    this(home.resolve("holder.sock"), grace, home.resolve("holder.log"));
  }

  HolderKeeper(Path socket, Duration grace, Path log) {
    this.socket = socket;
    this.grace = grace;
    this.log = log;
  }

  public static Path socketPath(Path home) {
    return home.resolve("holder.sock");
  }

  @Override
  public String describe() {
    return "holder process (" + socket + ", grace " + grace.toSeconds() + " s)";
  }

  /**
   * Starts (or connects to) the holder on a short-lived thread. Starting it is a JVM start, 0.3–0.4 s
   * on a small machine, which a fresh daemon's first mount used to wait for after its FUSE mount; now
   * it overlaps the manifest, index and mount. {@link #keep} takes the same lock, so it waits for a
   * start in progress rather than starting a second holder.
   */
  @Override
  public void prepare() {
    synchronized (this) {
      if (client != null) {
        return;
      }
    }
    Thread.ofPlatform().daemon().name("holder-start").start(() -> {
      synchronized (this) {
        if (client == null) {
          try {
            connected(true);
          } catch (IOException e) {
            LOG.debug("starting the holder ahead of a mount failed ({}); the mount's keep tries again", e.getMessage());
          }
        }
      }
    });
  }

  @Override
  public synchronized void keep(String name, int fd, Map<String, String> meta) throws IOException {
    kept.put(name, new Mine(fd, meta));
    try {
      connected(true).put(name, fd, meta);
    } catch (IOException first) {
      LOG.warn("holder connection lost ({}): starting a new holder", first.getMessage());
      keepAllAgain();
    }
  }

  @Override
  public synchronized void check() throws IOException {
    if (kept.isEmpty()) {
      return;
    }
    try {
      if (connected(true).list().size() >= kept.size()) {
        return;
      }
      LOG.warn("the holder lost descriptors: handing them over again");
    } catch (IOException e) {
      LOG.warn("holder connection lost ({}): starting a new holder", e.getMessage());
    }
    keepAllAgain();
  }

  private void keepAllAgain() throws IOException {
    disconnect();
    HolderClient c = connected(true);
    for (Map.Entry<String, Mine> e : kept.entrySet()) {
      c.put(e.getKey(), e.getValue().fd(), e.getValue().meta());
    }
  }

  @Override
  public synchronized void release(String name) throws IOException {
    kept.remove(name);
    if (client != null) {
      try {
        client.drop(name);
      } catch (IOException e) {
        disconnect();
        throw e;
      }
    }
  }

  @Override
  public synchronized List<Kept> takeBack() throws IOException {
    List<Kept> out = new ArrayList<>();
    HolderClient c;
    try {
      c = connected(false);
    } catch (ErrnoException e) {
      return out; // no holder: nothing was kept
    }
    for (HolderProtocol.Entry e : c.list()) {
      Optional<HolderClient.Taken> t = c.get(e.name());
      if (t.isPresent()) {
        out.add(new Kept(e.name(), t.get().fd(), t.get().entry().meta()));
        kept.put(e.name(), new Mine(t.get().fd(), t.get().entry().meta()));
      }
    }
    return out;
  }

  private HolderClient connected(boolean start) throws IOException {
    if (client == null) {
      try {
        client = HolderClient.connect(socket);
      } catch (ErrnoException e) {
        if (!start || (e.errno() != ErrnoException.ENOENT && e.errno() != ErrnoException.ECONNREFUSED)) {
          throw e;
        }
        client = HolderProcess.start(socket, grace, log);
        LOG.info("started a holder for FUSE connections at {}", socket);
      }
    }
    return client;
  }

  private void disconnect() {
    if (client != null) {
      client.close();
      client = null;
    }
  }

  /** Closes the session: the holder keeps everything for {@code grace}, waiting for the next daemon. */
  @Override
  public synchronized void close() {
    disconnect();
  }
}
