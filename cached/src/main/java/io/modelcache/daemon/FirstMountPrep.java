package io.modelcache.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first mount's one-time costs, paid on a background thread as soon as the daemon has started
 * rather than inside the first mount request (about 0.7 s of a cold daemon's first mount on 2
 * vCPUs): the virtual-thread scheduler that serves control requests, the registry client's first
 * HTTP exchange (Netty's event loop, pipeline and buffers; here against a one-shot stand-in on
 * 127.0.0.1, so no registry is contacted), binding libfuse and generating its callback stubs, and
 * the JSON the mount path reads and writes. Best effort: a failure is logged at debug, and the mount
 * that needs the same thing reports it properly. Threading: {@link #start} runs the steps on one
 * daemon thread of its own.
 */
final class FirstMountPrep {
  private static final Logger LOG = LoggerFactory.getLogger(FirstMountPrep.class);
  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final String MANIFEST = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      + "\"layers\":[]}";

  private FirstMountPrep() {}

  /** Starts {@link #prepare} on a daemon thread and returns at once. */
  static void start(RegistryOptions registry, ObjectMapper json, FuseTransport transport) {
    Thread.ofPlatform().name("first-mount-prep").daemon(true).start(() -> {
      long t0 = System.nanoTime();
      List<String> failed = prepare(registry, json, transport);
      LOG.debug("first-mount preparation done in {} ms{}", (System.nanoTime() - t0) / 1_000_000,
          failed.isEmpty() ? "" : "; failed: " + failed);
    });
  }

  /** Runs every step on this thread; returns the names of those that failed. */
  static List<String> prepare(RegistryOptions registry, ObjectMapper json, FuseTransport transport) {
    List<String> failed = new ArrayList<>();
    // In the order a mount needs them, so a mount that arrives early finds its first steps done.
    run(failed, "virtual threads", () -> Thread.ofVirtual().start(() -> { }).join());
    run(failed, "registry client", () -> exchange(registry));
    run(failed, "FUSE", transport::prepare);
    run(failed, "JSON", () -> {
      json.writeValueAsBytes(List.of(new MountRecord("r", "sha256:0", "/", null)));
      json.readTree(MANIFEST);
    });
    return failed;
  }

  private interface Step {
    void run() throws Exception;
  }

  private static void run(List<String> failed, String what, Step step) {
    try {
      step.run();
    } catch (Throwable t) {
      failed.add(what);
      LOG.debug("first-mount preparation of the {} failed (the first mount does it instead): {}", what, t.toString());
    }
  }

  /** One manifest GET through the real registry client, answered by a one-shot loopback stand-in. */
  private static void exchange(RegistryOptions options) throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      server.setSoTimeout((int) TIMEOUT.toMillis());
      Thread answer = Thread.ofPlatform().name("first-mount-prep-answer").daemon(true).start(() -> answerOnce(server));
      Reference ref = Reference.parse("127.0.0.1:" + server.getLocalPort() + "/modelcache/first-mount-prep:latest");
      try (RegistryClient client = RegistryClient.open(ref, options
          .withTimeouts(TIMEOUT, TIMEOUT, TIMEOUT).withRetries(1, Duration.ZERO, Duration.ZERO))) {
        client.fetchManifest("latest");
      }
      answer.join(TIMEOUT.toMillis());
    }
  }

  private static void answerOnce(ServerSocket server) {
    try (Socket s = server.accept()) {
      s.setSoTimeout((int) TIMEOUT.toMillis());
      InputStream in = s.getInputStream();
      int state = 0; // counts the bytes of the "\r\n\r\n" that ends the request head
      for (int b; state < 4 && (b = in.read()) >= 0; ) {
        state = (b == '\r' && state % 2 == 0) || (b == '\n' && state % 2 == 1) ? state + 1 : b == '\r' ? 1 : 0;
      }
      byte[] body = MANIFEST.getBytes(StandardCharsets.UTF_8);
      OutputStream out = s.getOutputStream();
      out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: "
          + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
    } catch (IOException e) {
      LOG.debug("first-mount preparation: the loopback stand-in failed: {}", e.toString());
    }
  }
}
