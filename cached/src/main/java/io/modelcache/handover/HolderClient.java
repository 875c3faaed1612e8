package io.modelcache.handover;

import io.modelcache.handover.HolderProtocol.Entry;
import io.modelcache.handover.HolderProtocol.ProtocolException;
import io.modelcache.handover.HolderProtocol.Reply;
import io.modelcache.handover.HolderProtocol.Request;
import io.modelcache.os.Fds;
import io.modelcache.os.Sockets;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One connection (session) to a holder. Requests are serialized on this object. While the
 * connection is open, what it put or took back is claimed; closing it (or the process dying) starts
 * those descriptors' grace period in the holder. Calls block on the holder for a round trip.
 */
public final class HolderClient implements Closeable {
  private final int fd;
  private boolean closed;

  private HolderClient(int fd) {
    this.fd = fd;
  }

  /** A descriptor taken back: ours to close. */
  public record Taken(Entry entry, int fd) {}

  /** Connects to the holder at {@code socket}; an {@link io.modelcache.os.ErrnoException} when none listens. */
  public static HolderClient connect(Path socket) throws IOException {
    return new HolderClient(Sockets.connectSeqpacket(socket.toString()));
  }

  /** Hands a duplicate of {@code descriptor} to the holder under {@code name} (replacing any held one). */
  public synchronized void put(String name, int descriptor, Map<String, String> meta) throws IOException {
    Reply r = call(Request.put(name, meta), descriptor);
    if (!r.ok()) {
      throw new IOException("holder refused " + name + ": " + r.error());
    }
  }

  /** A duplicate of the descriptor held under {@code name}, which this session now claims. */
  public synchronized Optional<Taken> get(String name) throws IOException {
    send(Request.get(name));
    Sockets.Received in = receive();
    Reply r = decode(in);
    if (!r.ok() || r.entries().size() != 1 || in.fds().length != 1) {
      for (int f : in.fds()) {
        Fds.closeQuietly(f);
      }
      if (!r.ok() && r.error().startsWith("not held")) {
        return Optional.empty();
      }
      throw new IOException("holder answered GET " + name + " with " + (r.ok() ? in.fds().length + " descriptors" : r.error()));
    }
    return Optional.of(new Taken(r.entries().get(0), in.fds()[0]));
  }

  /** What the holder holds. */
  public synchronized List<Entry> list() throws IOException {
    Reply r = call(Request.list());
    if (!r.ok()) {
      throw new IOException("holder refused LIST: " + r.error());
    }
    return r.entries();
  }

  /** The holder closes its duplicate of {@code name} (nothing happens if it holds none). */
  public synchronized void drop(String name) throws IOException {
    Reply r = call(Request.drop(name));
    if (!r.ok()) {
      throw new IOException("holder refused DROP " + name + ": " + r.error());
    }
  }

  private Reply call(Request req, int... fds) throws IOException {
    send(req, fds);
    Sockets.Received in = receive();
    for (int f : in.fds()) {
      Fds.closeQuietly(f);
    }
    return decode(in);
  }

  private void send(Request req, int... fds) throws IOException {
    if (closed) {
      throw new IOException("holder connection is closed");
    }
    Sockets.send(fd, HolderProtocol.encode(req), fds);
  }

  private Sockets.Received receive() throws IOException {
    Sockets.Received in = Sockets.receive(fd, HolderProtocol.MAX_MESSAGE);
    if (in.eof()) {
      throw new IOException("the holder closed the connection");
    }
    return in;
  }

  private static Reply decode(Sockets.Received in) throws IOException {
    try {
      return HolderProtocol.decodeReply(in.data());
    } catch (ProtocolException e) {
      throw new IOException("bad reply from the holder: " + e.getMessage());
    }
  }

  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      Fds.closeQuietly(fd);
    }
  }
}
