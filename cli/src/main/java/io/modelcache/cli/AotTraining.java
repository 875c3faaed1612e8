package io.modelcache.cli;

import io.modelcache.control.ControlServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The build's training run for the client's AOT cache (see the launcher and cli/pom.xml): runs the
 * client commands that must start fast (mount, ls, umount, and a refused mount) against a stand-in
 * control socket that answers as a daemon would, so the cache holds the classes a real run loads. It
 * prints nothing and is no user command. Single-threaded, plus one thread that answers the socket.
 */
public final class AotTraining {
  private static final String DIGEST = "sha256:" + "0".repeat(64);

  private AotTraining() {}

  public static void main(String[] args) throws IOException {
    Path home = Files.createTempDirectory("modelcache-aot-training");
    PrintStream stdout = System.out;
    try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(ControlServer.socketPath(home)));
      Thread.ofPlatform().name("aot-training-daemon").daemon(true).start(() -> answer(server));
      PrintWriter sink = new PrintWriter(OutputStream.nullOutputStream(), true);
      System.setOut(new PrintStream(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8));
      String h = home.toString();
      String mnt = home.resolve("mnt").toString();
      int failed = 0;
      failed += Main.run(new String[] {"mount", "--home", h, "registry.example:5000/models/m:v1", mnt}, sink, sink);
      failed += Main.run(new String[] {"ls", "--home", h}, sink, sink);
      failed += Main.run(new String[] {"umount", "--home", h, mnt}, sink, sink);
      if (Main.run(new String[] {"mount", "--home", h, "registry.example:5000/models/m:v1", mnt}, sink, sink) == 0) {
        failed++; // the stand-in refuses the second mount
      }
      if (failed != 0) {
        throw new IllegalStateException("AOT training: a client command did not behave as expected");
      }
    } finally {
      System.setOut(stdout);
      try (Stream<Path> s = Files.walk(home)) {
        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /** Answers each connection's request line the way the daemon would; the second mount is refused. */
  private static void answer(ServerSocketChannel server) {
    int mounts = 0;
    while (true) {
      try (SocketChannel ch = server.accept()) {
        String req = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8))
            .readLine();
        String resp;
        if (req != null && req.contains("\"op\":\"mount\"")) {
          resp = ++mounts == 1
              ? "{\"ok\":true,\"mountpoint\":\"/mnt/m\",\"digest\":\"" + DIGEST + "\",\"files\":2}"
              : "{\"ok\":false,\"kind\":\"USAGE\",\"error\":\"mountpoint /mnt/m is already mounted (m:v1)\"}";
        } else if (req != null && req.contains("\"op\":\"ls\"")) {
          resp = "{\"ok\":true,\"mounts\":[{\"reference\":\"registry.example:5000/models/m:v1\",\"digest\":\""
              + DIGEST + "\",\"mountpoint\":\"/mnt/m\",\"files\":2,\"totalBytes\":1024,\"cachedBytes\":512}]}";
        } else {
          resp = "{\"ok\":true,\"mountpoint\":\"/mnt/m\"}";
        }
        OutputStream out = Channels.newOutputStream(ch);
        out.write((resp + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
      } catch (IOException e) {
        return; // the socket was closed: training is over
      }
    }
  }
}
