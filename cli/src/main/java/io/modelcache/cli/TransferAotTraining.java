package io.modelcache.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The build's training run for the transfer commands' AOT cache ({@code modelcache-transfer.aot},
 * used by push, pull and index; see the launcher): packs a small model into an OCI layout with
 * {@code push}, then {@code pull}s it over HTTP from a stand-in registry on 127.0.0.1 that serves
 * that layout read-only, so the cache holds the classes and method profiles of the registry client,
 * the hashing and the file writes. These commands run with C2 (the other client commands do not), so
 * they get a cache of their own. It prints nothing and is no user command.
 */
public final class TransferAotTraining {
  /** Bytes per weights file: enough calls for the hot loops to be profiled, a few seconds of build. */
  private static final int FILE_BYTES = 96 << 20;
  private static final Pattern MANIFEST = Pattern.compile("^/v2/train/model/manifests/([^/]+)$");
  private static final Pattern BLOB = Pattern.compile("^/v2/train/model/blobs/(sha256:[0-9a-f]{64})$");
  private static final Pattern RANGE = Pattern.compile("^bytes=(\\d+)-(\\d*)$");

  private TransferAotTraining() {}

  public static void main(String[] args) throws IOException {
    Path home = Files.createTempDirectory("modelcache-aot-transfer");
    PrintStream stdout = System.out;
    HttpServer server = null;
    try {
      Path model = Files.createDirectories(home.resolve("train-model"));
      Random rnd = new Random(42);
      byte[] data = new byte[FILE_BYTES];
      for (int i = 1; i <= 2; i++) {
        rnd.nextBytes(data);
        Files.write(model.resolve("model-0000" + i + "-of-00002.safetensors"), data);
      }
      Files.writeString(model.resolve("config.json"), "{\"model_type\":\"llama\"}\n");
      Path config = Files.writeString(home.resolve("config.yaml"), "cache: {}\n");
      Path layout = home.resolve("layout");
      PrintWriter sink = new PrintWriter(OutputStream.nullOutputStream(), true);
      System.setOut(new PrintStream(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8));
      int failed = Main.run(new String[] {"push", "--config", config.toString(), model.toString(),
          "oci:" + layout + ":v1"}, sink, sink);
      OciLayout source = OciLayout.open(Reference.parse("oci:" + layout + ":v1"));
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
      server.createContext("/", ex -> serve(source, ex));
      server.start();
      String ref = "127.0.0.1:" + server.getAddress().getPort() + "/train/model:v1";
      failed += Main.run(new String[] {"pull", "--config", config.toString(), ref, home.resolve("pulled").toString()},
          sink, sink);
      if (failed != 0) {
        throw new IllegalStateException("AOT training: push or pull did not succeed");
      }
    } finally {
      System.setOut(stdout);
      if (server != null) {
        server.stop(0);
      }
      try (Stream<Path> s = Files.walk(home)) {
        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /** The read side of the distribution API over the layout: ping, manifests by tag or digest, blobs. */
  private static void serve(OciLayout layout, HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      boolean head = "HEAD".equals(ex.getRequestMethod());
      if (path.equals("/v2/") || path.equals("/v2")) {
        send(ex, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8), head);
        return;
      }
      Matcher m = MANIFEST.matcher(path);
      if (m.matches()) {
        FetchedManifest fm = layout.fetchManifest(m.group(1));
        ex.getResponseHeaders().set("Docker-Content-Digest", fm.digest().toString());
        send(ex, 200, fm.mediaType(), fm.bytes(), head);
        return;
      }
      Matcher b = BLOB.matcher(path);
      if (b.matches()) {
        Path file = layout.blobPath(Digest.parse(b.group(1)));
        long size = Files.size(file);
        long from = 0;
        long to = size - 1;
        String range = ex.getRequestHeaders().getFirst("Range");
        Matcher r = range == null ? null : RANGE.matcher(range);
        if (r != null && r.matches()) {
          from = Long.parseLong(r.group(1));
          to = r.group(2).isEmpty() ? size - 1 : Math.min(size - 1, Long.parseLong(r.group(2)));
          ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + size);
        }
        ex.getResponseHeaders().set("Content-Type", "application/octet-stream");
        ex.getResponseHeaders().set("Docker-Content-Digest", b.group(1));
        ex.sendResponseHeaders(r != null && r.matches() ? 206 : 200, head ? -1 : to - from + 1);
        if (!head) {
          try (InputStream in = Files.newInputStream(file); OutputStream out = ex.getResponseBody()) {
            in.skipNBytes(from);
            byte[] buf = new byte[1 << 16];
            long left = to - from + 1;
            while (left > 0) {
              int n = in.read(buf, 0, (int) Math.min(buf.length, left));
              if (n < 0) {
                break;
              }
              out.write(buf, 0, n);
              left -= n;
            }
          }
        }
        return;
      }
      send(ex, 404, "application/json", "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}".getBytes(StandardCharsets.UTF_8),
          head);
    } catch (IOException | RuntimeException e) {
      // a failed answer fails the pull, and with it the training run
    }
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body, boolean head) throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(status, head ? -1 : body.length);
    if (!head) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }
}
