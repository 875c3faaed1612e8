package io.modelcache.handover;

import io.modelcache.handover.HolderProtocol.Entry;
import io.modelcache.handover.HolderProtocol.ProtocolException;
import io.modelcache.handover.HolderProtocol.Reply;
import io.modelcache.handover.HolderProtocol.Request;
import io.modelcache.os.Fds;
import io.modelcache.os.Libc;
import io.modelcache.os.PeerCredentials;
import io.modelcache.os.Sockets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The holder's server: one thread, one poll(2) loop over the listening socket and every daemon
 * connection, so that no lock is needed and the grace deadline is simply poll's timeout. It keeps
 * one duplicate of every descriptor put into it until the descriptor is dropped or its grace runs
 * out (see {@link Claims}), and {@link #run} returns once it holds none and nobody is connected
 * (unless told to stay, as a Kubernetes holder container is). Only processes of its own uid (or
 * root) may connect: a descriptor here is a live FUSE connection.
 */
public final class HolderServer {
  private static final Logger LOG = LoggerFactory.getLogger(HolderServer.class);

  /** Ends a held descriptor whose grace ran out. */
  public interface Aborter {
    void abort(String name, int fd, Map<String, String> meta);
  }

  private record Held(int fd, Map<String, String> meta) {}

  private final Path socket;
  private final Claims claims;
  private final LongSupplier nanoClock;
  private final Aborter aborter;
  private final boolean stay;
  private final long idleExitNanos;
  private final Map<String, Held> held = new LinkedHashMap<>();
  private final Map<Integer, Long> sessions = new LinkedHashMap<>();
  private long nextSession = 1;
  private boolean sawSession;

  /**
   * @param idleExit how long a holder nobody ever connected to waits before it exits
   */
  public HolderServer(Path socket, Duration grace, LongSupplier nanoClock, Aborter aborter, boolean stay,
      Duration idleExit) {
    this.socket = socket;
    this.claims = new Claims(grace);
    this.nanoClock = nanoClock;
    this.aborter = aborter;
    this.stay = stay;
    this.idleExitNanos = idleExit.toNanos();
  }

  /** Serves until there is nothing left to hold (never, with {@code stay}). */
  public void run() throws IOException {
    Files.deleteIfExists(socket);
    int listen = Sockets.listenSeqpacket(socket.toString(), 64);
    long started = nanoClock.getAsLong();
    long me = ownUid();
    try {
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
      LOG.info("holder {} serving {}", ProcessHandle.current().pid(), socket);
      while (true) {
        long now = nanoClock.getAsLong();
        for (String name : claims.expired(now)) {
          Held h = held.remove(name);
          claims.forget(name);
          LOG.warn("no daemon took {} back within the grace period: aborting it ({})", name, h.meta());
          aborter.abort(name, h.fd(), h.meta());
        }
        if (!stay && held.isEmpty() && sessions.isEmpty() && (sawSession || now - started >= idleExitNanos)) {
          LOG.info("holder {} holds nothing: exiting", ProcessHandle.current().pid());
          return;
        }
        int[] fds = new int[1 + sessions.size()];
        fds[0] = listen;
        int i = 1;
        for (int s : sessions.keySet()) {
          fds[i++] = s;
        }
        short[] rev = new short[fds.length];
        Sockets.poll(fds, rev, timeoutMillis(now, started));
        if ((rev[0] & Sockets.POLLIN) != 0) {
          accept(listen, me);
        }
        for (int k = 1; k < fds.length; k++) {
          if (rev[k] != 0) {
            serve(fds[k]);
          }
        }
      }
    } finally {
      for (int s : sessions.keySet()) {
        Fds.closeQuietly(s);
      }
      Fds.closeQuietly(listen);
      Files.deleteIfExists(socket);
    }
  }

  private int timeoutMillis(long now, long started) {
    long next = claims.nanosUntilNextExpiry(now);
    if (!sawSession && !stay) {
      long idle = Math.max(0, started + idleExitNanos - now);
      next = next < 0 ? idle : Math.min(next, idle);
    }
    if (next < 0) {
      return -1;
    }
    return (int) Math.min(Integer.MAX_VALUE, (next + 999_999) / 1_000_000);
  }

  private void accept(int listen, long me) {
    int fd;
    try {
      fd = Sockets.accept(listen);
    } catch (IOException e) {
      LOG.warn("accept failed: {}", e.getMessage());
      return;
    }
    try {
      PeerCredentials peer = Libc.peerCredentials(fd);
      if (peer.uid() != me && peer.uid() != 0) {
        LOG.warn("refused a connection from uid {} pid {}", peer.uid(), peer.pid());
        Fds.closeQuietly(fd);
        return;
      }
      long id = nextSession++;
      sessions.put(fd, id);
      sawSession = true;
      LOG.info("session {}: pid {}", id, peer.pid());
    } catch (IOException e) {
      LOG.warn("cannot identify a connection: {}", e.getMessage());
      Fds.closeQuietly(fd);
    }
  }

  private void serve(int fd) {
    long session = sessions.get(fd);
    Sockets.Received in;
    try {
      in = Sockets.receive(fd, HolderProtocol.MAX_MESSAGE);
    } catch (IOException e) {
      LOG.warn("session {}: {}", session, e.getMessage());
      endSession(fd);
      return;
    }
    if (in.eof()) {
      endSession(fd);
      return;
    }
    Reply reply;
    int[] attach = {};
    try {
      Request r = HolderProtocol.decodeRequest(in.data());
      switch (r.op()) {
        case PUT -> {
          if (in.fds().length != 1) {
            throw new ProtocolException("PUT carries exactly one descriptor, got " + in.fds().length);
          }
          Held old = held.put(r.name(), new Held(in.fds()[0], r.meta()));
          if (old != null) {
            Fds.closeQuietly(old.fd());
          }
          claims.claim(r.name(), session);
          LOG.info("session {}: holding {} ({})", session, r.name(), r.meta());
          reply = Reply.ok(List.of(new Entry(r.name(), r.meta())));
          in = new Sockets.Received(in.data(), new int[0], false); // kept, not closed below
        }
        case GET -> {
          Held h = held.get(r.name());
          if (h == null) {
            reply = Reply.error("not held: " + r.name());
          } else {
            claims.claim(r.name(), session);
            attach = new int[] {h.fd()};
            reply = Reply.ok(List.of(new Entry(r.name(), h.meta())));
            LOG.info("session {}: gave {} back", session, r.name());
          }
        }
        case DROP -> {
          Held h = held.remove(r.name());
          claims.forget(r.name());
          if (h != null) {
            Fds.closeQuietly(h.fd());
            LOG.info("session {}: dropped {}", session, r.name());
          }
          reply = Reply.ok(List.of());
        }
        case LIST -> {
          List<Entry> all = new ArrayList<>();
          held.forEach((n, h) -> all.add(new Entry(n, h.meta())));
          reply = Reply.ok(all);
        }
        default -> throw new ProtocolException("unhandled " + r.op());
      }
    } catch (ProtocolException e) {
      reply = Reply.error(e.getMessage());
    }
    for (int f : in.fds()) {
      Fds.closeQuietly(f); // descriptors nobody asked us to hold
    }
    try {
      Sockets.send(fd, HolderProtocol.encode(reply), attach);
    } catch (IOException e) {
      LOG.warn("session {}: cannot reply: {}", session, e.getMessage());
      endSession(fd);
    }
  }

  private void endSession(int fd) {
    Long session = sessions.remove(fd);
    Fds.closeQuietly(fd);
    if (session != null) {
      claims.sessionClosed(session, nanoClock.getAsLong());
      LOG.info("session {} closed; {} held, {} waiting for a daemon", session, held.size(),
          held.keySet().stream().filter(claims::isOrphaned).count());
    }
  }

  private static long ownUid() throws IOException {
    return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
  }

  /**
   * The default abort: a FUSE connection named in the metadata ({@code fuse.connection=N}) is
   * aborted through /sys/fs/fuse/connections/N/abort when fusectl is mounted, so readers get an error
   * at once even if another process still holds a descriptor; then the descriptor is closed (the
   * last close of a FUSE device aborts its connection too).
   */
  public static void abortAndClose(String name, int fd, Map<String, String> meta) {
    String conn = meta.get("fuse.connection");
    if (conn != null && conn.matches("[0-9]{1,10}")) {
      Path abort = Path.of("/sys/fs/fuse/connections", conn, "abort");
      try {
        if (Files.exists(abort)) {
          Files.writeString(abort, "1");
          LOG.info("aborted FUSE connection {} ({})", conn, name);
        }
      } catch (IOException e) {
        LOG.warn("cannot abort FUSE connection {}: {}", conn, e.getMessage());
      }
    }
    Fds.closeQuietly(fd);
  }
}
