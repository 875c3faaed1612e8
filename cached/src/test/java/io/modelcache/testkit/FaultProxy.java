package io.modelcache.testkit;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An HTTP/1.1 reverse proxy on 127.0.0.1 in front of a registry that injects faults as its
 * {@link FaultPlan} says: resets mid-body, 503s, flipped bytes, truncated bodies, slow starts, and a
 * full {@link #outage}. Requests and responses are forwarded byte for byte (keep-alive, one upstream
 * connection per client connection); only responses with a Content-Length to requests the plan
 * applies to are faulted. Chunked responses pass through untouched. Request bodies must have a
 * Content-Length (all the clients in this project send one). Thread-safe: one thread per connection.
 */
public final class FaultProxy implements AutoCloseable {
  private final String upstreamHost;
  private final int upstreamPort;
  private final ServerSocket server;
  private final Thread acceptor;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong decided = new AtomicLong();
  private final Map<FaultPlan.Kind, AtomicLong> injected = new EnumMap<>(FaultPlan.Kind.class);
  private final AtomicLong outageRefusals = new AtomicLong();
  private final List<String> events = new ArrayList<>();
  private volatile FaultPlan plan;
  private volatile boolean outage;
  private volatile boolean closed;

  private FaultProxy(String upstreamHostPort, FaultPlan plan) throws IOException {
    int colon = upstreamHostPort.lastIndexOf(':');
    this.upstreamHost = upstreamHostPort.substring(0, colon);
    this.upstreamPort = Integer.parseInt(upstreamHostPort.substring(colon + 1));
    this.plan = plan;
    for (FaultPlan.Kind k : FaultPlan.Kind.values()) {
      injected.put(k, new AtomicLong());
    }
    this.server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
    this.acceptor = Thread.ofPlatform().daemon(true).name("fault-proxy-accept").start(this::acceptLoop);
  }

  /** A proxy on a free 127.0.0.1 port forwarding to {@code upstreamHostPort} under {@code plan}. */
  public static FaultProxy start(String upstreamHostPort, FaultPlan plan) throws IOException {
    return new FaultProxy(upstreamHostPort, plan);
  }

  /** {@code 127.0.0.1:PORT}: use it in references instead of the registry's. */
  public String hostPort() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  /** Replaces the plan for requests from now on (its request count goes on). */
  public void plan(FaultPlan p) {
    this.plan = p;
  }

  /**
   * A full outage while on: every open connection is reset and every new one is reset as soon as it
   * is accepted, so the registry is unreachable through the proxy.
   */
  public void outage(boolean on) {
    outage = on;
    if (on) {
      for (Socket s : open) {
        reset(s);
      }
    }
  }

  /** How many faults of {@code kind} the proxy injected so far. */
  public long injected(FaultPlan.Kind kind) {
    return injected.get(kind).get();
  }

  /** Requests the plan applied to (faulted or not). */
  public long decided() {
    return decided.get();
  }

  /** Connections reset by an outage. */
  public long outageRefusals() {
    return outageRefusals.get();
  }

  /** One line per faulted request ({@code n kind method path}), for failure messages. */
  public synchronized List<String> events() {
    return List.copyOf(events);
  }

  private void acceptLoop() {
    while (!closed) {
      Socket c;
      try {
        c = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      if (outage) {
        outageRefusals.incrementAndGet();
        reset(c);
        continue;
      }
      open.add(c);
      Thread.ofVirtual().name("fault-proxy-conn").start(() -> serve(c));
    }
  }

  private void serve(Socket client) {
    Socket upstream = null;
    try (client) {
      client.setTcpNoDelay(true);
      InputStream cin = new BufferedInputStream(client.getInputStream(), 64 << 10);
      OutputStream cout = client.getOutputStream();
      InputStream uin = null;
      OutputStream uout = null;
      while (!closed) {
        Head req = Head.read(cin);
        if (req == null) {
          return;
        }
        byte[] body = cin.readNBytes((int) Math.max(0, req.contentLength()));
        String[] line = req.startLine().split(" ", 3);
        FaultPlan p = plan;
        FaultPlan.Request r = new FaultPlan.Request(line[0], line.length > 1 ? line[1] : "");
        FaultPlan.Fault f = FaultPlan.Fault.NONE;
        if (p.applies().test(r)) {
          long n = decided.getAndIncrement();
          f = p.decide(n);
          if (f.kind() != FaultPlan.Kind.NONE) {
            synchronized (this) {
              if (events.size() < 10_000) {
                events.add(n + " " + f.kind() + " " + r.method() + " " + r.path());
              }
            }
          }
        }
        if (outage) {
          outageRefusals.incrementAndGet();
          reset(client);
          return;
        }
        if (f.kind() == FaultPlan.Kind.SERVER_ERROR) {
          injected.get(f.kind()).incrementAndGet();
          byte[] msg = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected by the fault proxy\"}]}"
              .getBytes(StandardCharsets.UTF_8);
          cout.write(("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
              + msg.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
          cout.write(msg);
          cout.flush();
          if (req.closes()) {
            return;
          }
          continue;
        }
        if (upstream == null) {
          upstream = new Socket();
          upstream.connect(new InetSocketAddress(upstreamHost, upstreamPort), 5000);
          upstream.setTcpNoDelay(true);
          open.add(upstream);
          uin = new BufferedInputStream(upstream.getInputStream(), 64 << 10);
          uout = upstream.getOutputStream();
        }
        uout.write(req.raw());
        uout.write(body);
        uout.flush();
        Head resp = Head.read(uin);
        if (resp == null) {
          return; // upstream closed: so does the client's connection
        }
        int status = Integer.parseInt(resp.startLine().split(" ", 3)[1]);
        boolean noBody = r.method().equals("HEAD") || status == 204 || status == 304 || status / 100 == 1;
        long len = noBody ? 0 : resp.contentLength();
        if (f.kind() == FaultPlan.Kind.SLOW_START) {
          injected.get(f.kind()).incrementAndGet();
          Thread.sleep(p.slowDelay().toMillis());
        }
        cout.write(resp.raw());
        if (noBody) {
          cout.flush();
        } else if (len >= 0) {
          boolean faulted = len > 0 && f.kind() != FaultPlan.Kind.SLOW_START && f.kind() != FaultPlan.Kind.NONE;
          long at = f.offsetIn(len);
          if (faulted) {
            injected.get(f.kind()).incrementAndGet();
          }
          if (faulted && (f.kind() == FaultPlan.Kind.RESET || f.kind() == FaultPlan.Kind.TRUNCATE)) {
            copy(uin, cout, at, -1, 0);
            cout.flush();
            if (f.kind() == FaultPlan.Kind.RESET) {
              reset(client);
            }
            return; // the client's connection ends here, and with it the upstream one
          }
          copy(uin, cout, len, faulted ? at : -1, f.mask());
          cout.flush();
        } else if (resp.chunked()) {
          copyChunked(uin, cout);
          cout.flush();
        } else {
          uin.transferTo(cout);
          return;
        }
        if (resp.closes() || req.closes()) {
          return;
        }
      }
    } catch (IOException e) {
      // the client or the upstream went away: so does this connection
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      open.remove(client);
      if (upstream != null) {
        open.remove(upstream);
        try {
          upstream.close();
        } catch (IOException ignored) {
          // closing
        }
      }
    }
  }

  /** Copies exactly {@code n} bytes, XORing {@code mask} into the byte at offset {@code flipAt} (-1: none). */
  private static void copy(InputStream in, OutputStream out, long n, long flipAt, int mask) throws IOException {
    byte[] buf = new byte[64 << 10];
    long done = 0;
    while (done < n) {
      int r = in.read(buf, 0, (int) Math.min(buf.length, n - done));
      if (r < 0) {
        throw new EOFException("upstream body ended early");
      }
      if (flipAt >= done && flipAt < done + r) {
        buf[(int) (flipAt - done)] ^= (byte) mask;
      }
      out.write(buf, 0, r);
      done += r;
    }
  }

  private static void copyChunked(InputStream in, OutputStream out) throws IOException {
    while (true) {
      String sizeLine = Head.line(in);
      out.write((sizeLine + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
      int semi = sizeLine.indexOf(';');
      long size = Long.parseLong((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
      if (size == 0) {
        String t;
        while (!(t = Head.line(in)).isEmpty()) {
          out.write((t + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        }
        out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        return;
      }
      copy(in, out, size + 2, -1, 0); // the chunk and its CRLF
    }
  }

  private static void reset(Socket s) {
    try {
      s.setSoLinger(true, 0); // close() then sends RST, not FIN
      s.close();
    } catch (IOException ignored) {
      // already gone
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
    for (Socket s : open) {
      reset(s);
    }
    try {
      acceptor.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** An HTTP message head: the raw bytes as received, and what the proxy needs from it. */
  private record Head(byte[] raw, String startLine, long contentLength, boolean chunked, boolean closes) {
    /** Reads up to and including the blank line; null at a clean end of stream before any byte. */
    static Head read(InputStream in) throws IOException {
      ByteArrayOutputStream raw = new ByteArrayOutputStream();
      String start = null;
      long len = -1;
      boolean chunked = false;
      boolean closes = false;
      while (true) {
        String l;
        try {
          l = line(in);
        } catch (EOFException e) {
          if (raw.size() == 0) {
            return null;
          }
          throw e;
        } catch (SocketException e) {
          if (raw.size() == 0) {
            return null;
          }
          throw e;
        }
        raw.write((l + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        if (l.isEmpty()) {
          if (start == null) {
            continue; // tolerate a stray CRLF between messages
          }
          return new Head(raw.toByteArray(), start, len, chunked, closes);
        }
        if (start == null) {
          start = l;
          continue;
        }
        int c = l.indexOf(':');
        if (c <= 0) {
          continue;
        }
        String name = l.substring(0, c).trim().toLowerCase(Locale.ROOT);
        String value = l.substring(c + 1).trim();
        switch (name) {
          case "content-length" -> len = Long.parseLong(value);
          case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
          case "connection" -> closes = value.equalsIgnoreCase("close");
          default -> { }
        }
      }
    }

    /** One CRLF-terminated line without its CRLF. */
    static String line(InputStream in) throws IOException {
      StringBuilder sb = new StringBuilder();
      while (true) {
        int b = in.read();
        if (b < 0) {
          throw new EOFException("end of stream in a header line");
        }
        if (b == '\n') {
          int n = sb.length();
          if (n > 0 && sb.charAt(n - 1) == '\r') {
            sb.setLength(n - 1);
          }
          return sb.toString();
        }
        sb.append((char) b);
        if (sb.length() > 64 << 10) {
          throw new IOException("header line too long");
        }
      }
    }
  }
}
