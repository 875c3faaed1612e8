package io.modelcache.registry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A raw-socket HTTP/1.1 server on 127.0.0.1 for fault tests: each request's head is read and passed to
 * a script that writes whatever (possibly broken) response it likes. One request per connection.
 */
final class ScriptedServer implements AutoCloseable {
  interface Script {
    void respond(int requestNo, String requestHead, OutputStream out, Socket s) throws IOException;
  }

  private final ServerSocket server;
  private final Script script;
  final List<String> requests = new CopyOnWriteArrayList<>();
  private final List<Socket> open = new CopyOnWriteArrayList<>();

  ScriptedServer(Script script) throws IOException {
    this.script = script;
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "scripted-server");
    t.setDaemon(true);
    t.start();
  }

  String hostPort() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        open.add(s);
        Thread t = new Thread(() -> handle(s), "scripted-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException closed) {
        return;
      }
    }
  }

  private void handle(Socket s) {
    try {
      s.setSoTimeout(20_000);
      InputStream in = s.getInputStream();
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      int state = 0;
      while (state < 4) {
        int b = in.read();
        if (b < 0) {
          s.close();
          return;
        }
        head.write(b);
        state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
      }
      String h = head.toString(StandardCharsets.ISO_8859_1);
      requests.add(h);
      script.respond(requests.size(), h, s.getOutputStream(), s);
      s.getOutputStream().flush();
    } catch (IOException ignored) {
      // the client went away
    } finally {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }

  static void write(OutputStream out, String head, byte[] body) throws IOException {
    out.write(head.getBytes(StandardCharsets.ISO_8859_1));
    if (body != null) {
      out.write(body);
    }
    out.flush();
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : open) {
      s.close();
    }
  }
}
