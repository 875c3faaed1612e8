package io.modelcache.registry;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.resolver.NoopAddressResolverGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * The Netty adapter: HTTP/1.1 exchanges over keep-alive connections pooled per scheme/host/port, on one
 * process-wide event loop group of daemon threads. Thread-safe; each exchange owns its connection until
 * its {@link HttpReply} is closed. Through an HTTP proxy (the registry's explicit one, else the proxy
 * environment), plain-HTTP requests go in absolute form and HTTPS ones through a CONNECT tunnel; after
 * {@link #fallBackToDirect} the proxy is bypassed for a while ({@link ProxyRouting}).
 */
final class HttpTransport implements AutoCloseable {
  private static final int IO_THREADS = Math.max(2, Math.min(4, Runtime.getRuntime().availableProcessors()));
  private static final String USER_AGENT = "modelcache/0.1";
  private static final int WRITE_CHUNK = 64 << 10;
  private static final int FLUSH_EVERY = 1 << 20;
  /**
   * Largest socket read, and largest body slice handed to the reader. Netty's default stops at 64 KiB:
   * a 4 GiB pull then made 232,000 system calls (71,000 reads, 111,000 futex wake-ups between the event
   * loop and the reader), against 61,000 with 1 MiB (docs/performance.md, "Fewer, larger socket reads").
   * {@code -Dmodelcache.http.readBytes} for measuring.
   */
  static final int READ_BYTES = Integer.getInteger("modelcache.http.readBytes", 1 << 20);

  private static final class Shared {
    static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(
        IO_THREADS, new DefaultThreadFactory("modelcache-http", true), NioIoHandler.newFactory());
  }

  private final String registry;
  private final Network.Route route;
  private final ProxyRouting proxies;

  private final long connectMs;
  private final long firstByteMs;
  private final long idleMs;
  private final int maxPerHost;
  private final Map<String, HostPool> pools = new ConcurrentHashMap<>();
  private volatile boolean closed;

  private static final class HostPool {
    final Semaphore permits;
    final ConcurrentLinkedDeque<Channel> idle = new ConcurrentLinkedDeque<>();

    HostPool(int max) {
      permits = new Semaphore(max, true);
    }
  }

  HttpTransport(RegistryOptions o, String registry) {
    this.registry = registry;
    this.route = o.network().route(registry);
    this.proxies = new ProxyRouting(registry, route, o.network().env(), o.clock());
    this.connectMs = Math.max(1, o.connectTimeout().toMillis());
    this.firstByteMs = Math.max(1, o.firstByteTimeout().toMillis());
    this.idleMs = Math.max(1, o.idleTimeout().toMillis());
    this.maxPerHost = o.maxConnectionsPerHost();
  }

  /** Sends {@code call} and waits for the response head (not the body). */
  HttpReply send(HttpCall call) throws IOException {
    if (closed) {
      throw new IOException("registry client is closed");
    }
    URI u = call.uri();
    boolean https = "https".equalsIgnoreCase(u.getScheme());
    // URI keeps IPv6 literals bracketed; sockets want them bare.
    String host = u.getHost().startsWith("[") ? u.getHost().substring(1, u.getHost().length() - 1) : u.getHost();
    int port = RedirectPolicy.port(u);
    URI proxy = proxies.proxyFor(host, port, https);
    String key = (https ? "https://" : "http://") + host + ":" + port
        + (proxy == null ? "" : " via " + proxy.getHost() + ":" + proxy.getPort());
    HostPool pool = pools.computeIfAbsent(key, k -> new HostPool(maxPerHost));
    acquirePermit(pool, host);
    boolean handedOver = false;
    try {
      // A pooled connection may have been closed by the server meanwhile: one replay on a fresh one.
      for (int round = 0; ; round++) {
        Channel ch = round == 0 ? pollIdle(pool) : null;
        boolean reused = ch != null;
        if (ch == null) {
          ch = connect(https, host, port, proxy);
        }
        try {
          HttpReply r = exchange(ch, call, pool, https ? null : proxy);
          handedOver = true;
          return r;
        } catch (TransportException e) {
          if (reused && e.beforeResponse() && e.kind() == TransportException.Kind.BROKEN) {
            continue;
          }
          throw e;
        }
      }
    } finally {
      if (!handedOver) {
        pool.permits.release();
      }
    }
  }

  /** See {@link ProxyRouting#fallBackToDirect}. */
  ProxyRouting.Fallback fallBackToDirect(URI target, String cause) throws IOException {
    return proxies.fallBackToDirect(target, cause);
  }

  private void acquirePermit(HostPool pool, String host) throws IOException {
    try {
      if (!pool.permits.tryAcquire(firstByteMs, TimeUnit.MILLISECONDS)) {
        throw new TransportException(TransportException.Kind.TIMEOUT,
            "all " + maxPerHost + " connections to " + host + " busy for " + human(firstByteMs), true, null);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted waiting for a connection");
    }
  }

  private static Channel pollIdle(HostPool pool) {
    Channel ch;
    while ((ch = pool.idle.pollFirst()) != null) {
      ChannelBridge b = ch.pipeline().get(ChannelBridge.class);
      if (ch.isActive() && b != null && !b.isDead()) {
        return ch;
      }
      ch.close();
    }
    return null;
  }

  private Channel connect(boolean https, String host, int port, URI proxy) throws IOException {
    SslContext ssl = https ? TlsContexts.forRegistry(route.ca(), registry) : null;
    HttpProxyHandler tunnel = proxy != null && https ? ProxyTunnels.handler(proxy, connectMs + firstByteMs) : null;
    Bootstrap b = new Bootstrap()
        .group(Shared.GROUP)
        .channel(NioSocketChannel.class)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectMs))
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.RECVBUF_ALLOCATOR,
            new AdaptiveRecvByteBufAllocator(Math.min(64 << 10, READ_BYTES), Math.min(64 << 10, READ_BYTES), READ_BYTES))
        .handler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            if (tunnel != null) {
              ch.pipeline().addLast(tunnel); // holds back the TLS handshake until CONNECT succeeded
            }
            if (ssl != null) {
              SslHandler h = ssl.newHandler(ch.alloc(), host, port);
              SSLParameters p = h.engine().getSSLParameters();
              p.setEndpointIdentificationAlgorithm("HTTPS");
              h.engine().setSSLParameters(p);
              h.setHandshakeTimeoutMillis(connectMs + firstByteMs);
              ch.pipeline().addLast(h);
            }
            // Body slices as big as the socket reads, and room for long presigned Location headers.
            ch.pipeline().addLast(new HttpClientCodec(
                new HttpDecoderConfig().setMaxChunkSize(READ_BYTES).setMaxHeaderSize(64 << 10), false, false));
            ch.pipeline().addLast(new ChannelBridge());
          }
        });
    ChannelFuture f;
    if (tunnel != null) {
      // The proxy resolves the registry's name; ProxyHandler connects to the proxy instead.
      f = b.resolver(NoopAddressResolverGroup.INSTANCE).connect(InetSocketAddress.createUnresolved(host, port));
    } else if (proxy != null) {
      f = b.connect(proxy.getHost(), proxy.getPort());
    } else {
      f = b.connect(host, port);
    }
    String via = proxy == null ? "" : "proxy " + proxy.getHost() + ":" + proxy.getPort() + ": ";
    boolean finished;
    try {
      finished = f.await(connectMs + 2000);
    } catch (InterruptedException e) {
      f.cancel(true);
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while connecting to " + host);
    }
    if (!finished) {
      f.cancel(true);
      throw new TransportException(TransportException.Kind.UNREACHABLE, via + "connect timed out", true, null);
    }
    if (!f.isSuccess()) {
      Throwable t = f.cause();
      if (t instanceof ConnectTimeoutException) {
        throw new TransportException(TransportException.Kind.UNREACHABLE, via + "connect timed out", true, t);
      }
      throw new TransportException(TransportException.Kind.UNREACHABLE, via + describe(t), true, t);
    }
    if (tunnel != null) {
      ProxyTunnels.await(f.channel(), tunnel, via, connectMs + firstByteMs + 2000);
    }
    return f.channel();
  }

  private HttpReply exchange(Channel ch, HttpCall call, HostPool pool, URI viaProxy) throws IOException {
    ChannelBridge bridge = ch.pipeline().get(ChannelBridge.class);
    ChannelBridge.Inbox inbox = new ChannelBridge.Inbox(ch);
    bridge.attach(inbox);
    boolean ok = false;
    try {
      writeRequest(ch, call, inbox, viaProxy);
      HttpResponse head = awaitHead(inbox, call);
      boolean keepAlive = HttpUtil.isKeepAlive(head);
      HttpReply reply = new HttpReply(call.uri(), head.status().code(), head.status().reasonPhrase(),
          head.headers(), inbox, idleMs, complete -> release(ch, bridge, pool, complete && keepAlive),
          call.method().equals("HEAD"));
      ok = true;
      return reply;
    } finally {
      if (!ok) {
        bridge.detach();
        ch.close();
      }
    }
  }

  private void release(Channel ch, ChannelBridge bridge, HostPool pool, boolean reusable) {
    bridge.detach();
    if (reusable && !closed && ch.isActive() && !bridge.isDead()) {
      ch.config().setAutoRead(true);
      pool.idle.offerFirst(ch);
    } else {
      ch.close();
    }
    pool.permits.release();
  }

  private void writeRequest(Channel ch, HttpCall call, ChannelBridge.Inbox inbox, URI viaProxy) throws IOException {
    URI u = call.uri();
    String target = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
    if (u.getRawQuery() != null) {
      target += "?" + u.getRawQuery();
    }
    if (viaProxy != null) {
      target = "http://" + u.getRawAuthority() + target; // absolute form, as a proxy expects
    }
    HttpMethod method = HttpMethod.valueOf(call.method());
    HttpCall.Body body = call.body();
    HttpRequest req = body == null || body.length() == 0
        ? new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, target)
        : new DefaultHttpRequest(HttpVersion.HTTP_1_1, method, target);
    int defaultPort = "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    req.headers().set("Host", u.getPort() < 0 || u.getPort() == defaultPort ? u.getHost() : u.getHost() + ":" + u.getPort());
    req.headers().set("User-Agent", USER_AGENT);
    String proxyAuth = viaProxy == null ? null : ProxyTunnels.authorization(viaProxy);
    if (proxyAuth != null) {
      req.headers().set("Proxy-Authorization", proxyAuth);
    }
    for (Map.Entry<String, String> h : call.headers()) {
      req.headers().add(h.getKey(), h.getValue());
    }
    boolean sendsLength = body != null || method.equals(HttpMethod.POST) || method.equals(HttpMethod.PUT)
        || method.equals(HttpMethod.PATCH);
    if (sendsLength) {
      req.headers().set("Content-Length", body == null ? 0 : body.length());
    }
    if (req instanceof DefaultFullHttpRequest) {
      awaitWrite(ch.writeAndFlush(req), inbox);
      return;
    }
    ch.write(req);
    long sent = 0;
    long sinceFlush = 0;
    try (InputStream in = body.open()) {
      byte[] buf = new byte[WRITE_CHUNK];
      int n;
      while ((n = in.read(buf)) > 0) {
        if (sent + n > body.length()) {
          throw new IOException("request body longer than its declared " + body.length() + " bytes");
        }
        ByteBuf bb = ch.alloc().buffer(n);
        bb.writeBytes(buf, 0, n);
        ChannelFuture wf = ch.write(new DefaultHttpContent(bb));
        sent += n;
        sinceFlush += n;
        if (sinceFlush >= FLUSH_EVERY) {
          ch.flush();
          awaitWrite(wf, inbox);
          sinceFlush = 0;
        }
      }
    }
    if (sent != body.length()) {
      ch.close();
      throw new IOException("request body ended after " + sent + " of " + body.length() + " bytes");
    }
    awaitWrite(ch.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), inbox);
  }

  private void awaitWrite(ChannelFuture f, ChannelBridge.Inbox inbox) throws IOException {
    boolean finished;
    try {
      finished = f.await(idleMs);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while sending");
    }
    if (!finished) {
      throw new TransportException(TransportException.Kind.TIMEOUT, "send stalled for " + human(idleMs), false,
          null);
    }
    if (!f.isSuccess()) {
      throw new TransportException(TransportException.Kind.BROKEN, describe(f.cause()), true, f.cause());
    }
  }

  private HttpResponse awaitHead(ChannelBridge.Inbox inbox, HttpCall call) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(firstByteMs);
    while (true) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      Object o;
      try {
        o = left <= 0 ? null : inbox.poll(left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("interrupted waiting for " + call.uri().getHost());
      }
      if (o == null) {
        throw new TransportException(TransportException.Kind.TIMEOUT,
            "no response within " + human(firstByteMs), false, null);
      }
      if (o == ChannelBridge.CLOSED) {
        throw new TransportException(TransportException.Kind.BROKEN, "connection closed before the response", true,
            null);
      }
      if (o instanceof Throwable t) {
        throw new TransportException(TransportException.Kind.BROKEN, describe(t), true, t);
      }
      if (o instanceof HttpResponse r) {
        if (r.status().code() == 100) {
          continue;
        }
        if (!r.decoderResult().isSuccess()) {
          throw new TransportException(TransportException.Kind.BROKEN, "malformed HTTP response", false,
              r.decoderResult().cause());
        }
        return r;
      }
      if (o instanceof HttpContent) {
        ReferenceCountUtil.release(o);
      }
    }
  }

  /** 300ms, 5s, 90s: durations for messages. */
  static String human(long ms) {
    return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
  }

  /** A short, credential-free description of a network failure. */
  static String describe(Throwable t) {
    Throwable c = t;
    while (c != null) {
      if (c instanceof UnknownHostException) {
        return "unknown host";
      }
      if (c instanceof ConnectTimeoutException) {
        return "connect timed out";
      }
      if (c instanceof ConnectException) {
        String m = c.getMessage() == null ? "" : c.getMessage().toLowerCase(java.util.Locale.ROOT);
        if (m.contains("refused")) {
          return "connection refused";
        }
        if (m.contains("unreachable")) {
          return "network unreachable";
        }
        return "connect failed";
      }
      if (c instanceof SSLException) {
        String m = String.valueOf(c.getMessage());
        if (m.contains("PKIX") || m.contains("certificate") || m.contains("No subject alternative")) {
          return "TLS certificate not trusted";
        }
        return m.toLowerCase(java.util.Locale.ROOT).contains("timed out") ? "TLS handshake timed out"
            : "TLS handshake failed";
      }
      if (c instanceof ClosedChannelException) {
        return "connection closed";
      }
      if (c instanceof IOException && c.getMessage() != null
          && c.getMessage().toLowerCase(java.util.Locale.ROOT).contains("reset")) {
        return "connection reset";
      }
      c = c.getCause();
    }
    return t == null ? "unknown error" : t.getClass().getSimpleName();
  }

  @Override
  public void close() {
    closed = true;
    for (HostPool p : pools.values()) {
      Channel ch;
      while ((ch = p.idle.pollFirst()) != null) {
        ch.close();
      }
    }
  }
}
