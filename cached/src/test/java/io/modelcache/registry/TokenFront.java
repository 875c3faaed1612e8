package io.modelcache.registry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test front for a real registry on 127.0.0.1: a Bearer token service ({@code /token}, Basic
 * {@code user:password}), a proxy that demands those tokens on {@code /v2/}, and optionally blob GETs
 * redirected (307) to a second server on 127.0.0.2 that plays a presigned-URL store, answering 403 for
 * the first {@code expiredRedirects} requests.
 */
final class TokenFront implements AutoCloseable {
  final HttpServer front;
  final HttpServer store;
  final String registry;
  final String user;
  final String password;
  final boolean redirectBlobs;
  final AtomicInteger expiredRedirects = new AtomicInteger();
  final AtomicInteger tokensIssued = new AtomicInteger();
  final List<String> tokenScopes = new CopyOnWriteArrayList<>();
  final List<String> storeAuthHeaders = new CopyOnWriteArrayList<>();
  final AtomicInteger storeRequests = new AtomicInteger();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  TokenFront(String registryHostPort, String user, String password, boolean redirectBlobs) throws IOException {
    this.registry = registryHostPort;
    this.user = user;
    this.password = password;
    this.redirectBlobs = redirectBlobs;
    front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    front.setExecutor(Executors.newFixedThreadPool(8, daemon()));
    front.createContext("/token", this::token);
    front.createContext("/v2/", this::proxy);
    front.start();
    store = HttpServer.create(new InetSocketAddress("127.0.0.2", 0), 50);
    store.setExecutor(Executors.newFixedThreadPool(4, daemon()));
    store.createContext("/store/", this::storeGet);
    store.start();
  }

  private static java.util.concurrent.ThreadFactory daemon() {
    return r -> {
      Thread t = new Thread(r, "token-front");
      t.setDaemon(true);
      return t;
    };
  }

  String hostPort() {
    return "127.0.0.1:" + front.getAddress().getPort();
  }

  /** The identity (refresh) token the OAuth2 POST form of /token accepts; null: none. */
  volatile String refreshToken;
  final List<String> refreshForms = new CopyOnWriteArrayList<>();

  private void token(HttpExchange ex) throws IOException {
    if (ex.getRequestMethod().equals("POST")) {
      String form;
      try (InputStream in = ex.getRequestBody()) {
        form = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      refreshForms.add(form.replaceAll("refresh_token=[^&]*", "refresh_token=***"));
      String rt = refreshToken;
      if (rt == null || !form.contains("grant_type=refresh_token") || !form.contains("refresh_token=" + rt)) {
        send(ex, 401, "{\"details\":\"bad refresh token\"}".getBytes(StandardCharsets.UTF_8), Map.of());
        return;
      }
      String tok = "tok-" + tokensIssued.incrementAndGet();
      send(ex, 200, ("{\"access_token\":\"" + tok + "\",\"expires_in\":300}").getBytes(StandardCharsets.UTF_8),
          Map.of("Content-Type", "application/json"));
      return;
    }
    String expect = new Credentials(user, password).basicHeader();
    if (!expect.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
      send(ex, 401, "{\"details\":\"bad credentials\"}".getBytes(StandardCharsets.UTF_8), Map.of());
      return;
    }
    String q = ex.getRequestURI().getRawQuery();
    tokenScopes.add(q == null ? "" : q);
    String tok = "tok-" + tokensIssued.incrementAndGet();
    send(ex, 200, ("{\"access_token\":\"" + tok + "\",\"expires_in\":300}").getBytes(StandardCharsets.UTF_8),
        Map.of("Content-Type", "application/json"));
  }

  private void proxy(HttpExchange ex) throws IOException {
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    if (auth == null || !auth.startsWith("Bearer tok-")) {
      ex.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"http://" + hostPort()
          + "/token\",service=\"front\",scope=\"repository:whatever:pull\"");
      send(ex, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".getBytes(StandardCharsets.UTF_8), Map.of());
      return;
    }
    String path = ex.getRequestURI().getRawPath();
    if (redirectBlobs && ex.getRequestMethod().equals("GET") && path.matches("/v2/.+/blobs/sha256:[0-9a-f]{64}")) {
      String target = "http://127.0.0.2:" + store.getAddress().getPort() + "/store" + path + "?sig=x";
      send(ex, 307, new byte[0], Map.of("Location", target));
      return;
    }
    forward(ex, ex.getRequestURI());
  }

  private void storeGet(HttpExchange ex) throws IOException {
    storeRequests.incrementAndGet();
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    if (auth != null) {
      storeAuthHeaders.add(auth);
    }
    if (expiredRedirects.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      send(ex, 403, "<Error>Request has expired</Error>".getBytes(StandardCharsets.UTF_8), Map.of());
      return;
    }
    forward(ex, URI.create(ex.getRequestURI().getRawPath().substring("/store".length())));
  }

  private void forward(HttpExchange ex, URI pathAndQuery) throws IOException {
    byte[] body;
    try (InputStream in = ex.getRequestBody()) {
      body = in.readAllBytes();
    }
    String raw = pathAndQuery.getRawPath() + (pathAndQuery.getRawQuery() == null ? "" : "?" + pathAndQuery.getRawQuery());
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + registry + raw))
        .timeout(Duration.ofSeconds(30))
        .method(ex.getRequestMethod(), body.length == 0 ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(body));
    for (String h : List.of("Content-Type", "Range", "Accept", "Content-Range")) {
      String v = ex.getRequestHeaders().getFirst(h);
      if (v != null) {
        b.header(h, v);
      }
    }
    HttpResponse<byte[]> r;
    try {
      r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    Map<String, String> headers = new java.util.HashMap<>();
    for (String h : List.of("Content-Type", "Location", "Docker-Content-Digest", "Content-Range", "Range",
        "Docker-Upload-UUID")) {
      r.headers().firstValue(h).ifPresent(v -> headers.put(h, v.replace("http://" + registry, "http://" + hostPort())));
    }
    if (ex.getRequestMethod().equals("HEAD")) {
      r.headers().firstValue("Content-Length").ifPresent(v -> headers.put("Content-Length", v));
      headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
      ex.sendResponseHeaders(r.statusCode(), -1);
      ex.close();
      return;
    }
    send(ex, r.statusCode(), r.body(), headers);
  }

  private static void send(HttpExchange ex, int status, byte[] body, Map<String, String> headers) throws IOException {
    headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(status, body.length == 0 || head ? -1 : body.length);
    try (OutputStream out = ex.getResponseBody()) {
      if (!head) {
        out.write(body);
      }
    }
    ex.close();
  }

  @Override
  public void close() {
    front.stop(0);
    store.stop(0);
  }
}
