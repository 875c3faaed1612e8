package io.modelcache.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCP forwarder on 127.0.0.1 that passes the server's bytes at a fixed rate, so that a cold read
 * of a model lasts long enough for something to happen in the middle of it. Threads are daemon
 * threads; {@link #close} ends every connection.
 */
final class SlowLink implements AutoCloseable {
  private final ServerSocket server;
  private final List<Socket> open = new ArrayList<>();
  private final long bytesPerSecond;

  SlowLink(int targetPort, long bytesPerSecond) throws IOException {
    this.bytesPerSecond = bytesPerSecond;
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofPlatform().daemon().name("slow-link").start(() -> {
      while (!server.isClosed()) {
        try {
          Socket client = server.accept();
          Socket upstream = new Socket();
          upstream.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort), 5000);
          synchronized (open) {
            open.add(client);
            open.add(upstream);
          }
          pump(client, upstream, Long.MAX_VALUE);
          pump(upstream, client, bytesPerSecond);
        } catch (IOException e) {
          // closed
        }
      }
    });
  }

  int port() {
    return server.getLocalPort();
  }

  private static void pump(Socket from, Socket to, long rate) {
    Thread.ofPlatform().daemon().name("slow-link-pump").start(() -> {
      byte[] buf = new byte[16 << 10];
      long start = System.nanoTime();
      long sent = 0;
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buf)) > 0; ) {
          out.write(buf, 0, n);
          sent += n;
          if (rate != Long.MAX_VALUE) {
            long due = start + sent * 1_000_000_000L / rate;
            long wait = due - System.nanoTime();
            if (wait > 0) {
              Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
          }
        }
      } catch (IOException | InterruptedException e) {
        // the other side went away
      } finally {
        try {
          to.shutdownOutput();
        } catch (IOException ignored) {
          // already closed
        }
      }
    });
  }

  @Override
  public void close() throws IOException {
    server.close();
    synchronized (open) {
      for (Socket s : open) {
        s.close();
      }
    }
  }
}
