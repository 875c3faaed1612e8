package io.modelcache.registry;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A byte-for-byte HTTP/1.1 proxy on 127.0.0.1 in front of the real registry that cuts upload
 * requests: the {@code n}-th PATCH (counted over every connection, from 1) is forwarded with only
 * its head and the first {@code bodyBytes} of its body (0: nothing of it at all), then both sides of
 * the connection are closed, as a dropped link would. Requests need a Content-Length (the client's
 * do). Counts the request body bytes it forwarded. One thread per direction per connection.
 */
final class UploadCutProxy implements AutoCloseable {
  /** Cut the PATCH number {@code patch} after {@code bodyBytes} of its body; -1 never. */
  record Cut(int patch, long bodyBytes) {}

  private final String upstreamHost;
  private final int upstreamPort;
  private final ServerSocket server;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger patches = new AtomicInteger();
  private final AtomicLong forwardedBody = new AtomicLong();
  private final AtomicInteger cuts = new AtomicInteger();
  private volatile Cut[] plan;

  UploadCutProxy(String upstreamHostPort, Cut... plan) throws IOException {
    int colon = upstreamHostPort.lastIndexOf(':');
    this.upstreamHost = upstreamHostPort.substring(0, colon);
    this.upstreamPort = Integer.parseInt(upstreamHostPort.substring(colon + 1));
    this.plan = plan;
    this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
    Thread.ofPlatform().daemon(true).name("cut-proxy-accept").start(this::accept);
  }

  String hostPort() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  /** Request body bytes forwarded to the registry so far (cut requests included). */
  long forwardedBodyBytes() {
    return forwardedBody.get();
  }

  int cuts() {
    return cuts.get();
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket c = server.accept();
        Socket u = new Socket(upstreamHost, upstreamPort);
        open.add(c);
        open.add(u);
        Thread.ofPlatform().daemon(true).name("cut-proxy-up").start(() -> requests(c, u));
        Thread.ofPlatform().daemon(true).name("cut-proxy-down").start(() -> pipe(u, c));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void requests(Socket c, Socket u) {
    try (c; u) {
      InputStream in = new BufferedInputStream(c.getInputStream(), 64 << 10);
      OutputStream out = u.getOutputStream();
      while (true) {
        byte[] head = readHead(in);
        if (head == null) {
          return;
        }
        String text = new String(head, StandardCharsets.ISO_8859_1);
        String method = text.substring(0, Math.max(0, text.indexOf(' ')));
        long length = contentLength(text);
        long limit = length;
        if (method.equals("PATCH")) {
          int n = patches.incrementAndGet();
          for (Cut cut : plan) {
            if (cut.patch() == n) {
              limit = Math.min(length, cut.bodyBytes());
            }
          }
        }
        out.write(head);
        byte[] buf = new byte[64 << 10];
        long left = limit;
        while (left > 0) {
          int r = in.read(buf, 0, (int) Math.min(buf.length, left));
          if (r < 0) {
            return;
          }
          out.write(buf, 0, r);
          forwardedBody.addAndGet(r);
          left -= r;
        }
        out.flush();
        if (limit < length) {
          cuts.incrementAndGet();
          return; // both sockets close: the link dropped mid-request
        }
      }
    } catch (IOException e) {
      // the other side went away
    } finally {
      open.remove(c);
      open.remove(u);
    }
  }

  private static byte[] readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int x = in.read();
      if (x < 0) {
        return null;
      }
      b.write(x);
      state = (x == '\r' && (state == 0 || state == 2)) || (x == '\n' && (state == 1 || state == 3)) ? state + 1
          : x == '\r' ? 1 : 0;
    }
    return b.toByteArray();
  }

  private static long contentLength(String head) {
    for (String line : head.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).trim().toLowerCase(Locale.ROOT).equals("content-length")) {
        return Long.parseLong(line.substring(colon + 1).trim());
      }
    }
    return 0;
  }

  private void pipe(Socket from, Socket to) {
    try {
      from.getInputStream().transferTo(to.getOutputStream());
    } catch (IOException e) {
      // closed by the other direction or the peer
    } finally {
      try {
        to.close();
        from.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : open) {
      s.close();
    }
  }
}
