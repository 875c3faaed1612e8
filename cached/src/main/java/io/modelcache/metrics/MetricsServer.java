package io.modelcache.metrics;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelcache.error.ModelCacheException;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.io.Closeable;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Serves {@code GET /metrics} in the Prometheus text format (and {@code /healthz}) on one small
 * Netty event loop. Scrapes are rare and cheap; one thread is plenty.
 */
public final class MetricsServer implements Closeable {
  private final EventLoopGroup group;
  private final Channel channel;

  private MetricsServer(EventLoopGroup group, Channel channel) {
    this.group = group;
    this.channel = channel;
  }

  /** Binds {@code host:port} (port 0 picks a free one). */
  public static MetricsServer start(String address, PrometheusMeterRegistry registry) throws ModelCacheException {
    int c = address.lastIndexOf(':');
    String host = address.substring(0, c);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = Integer.parseInt(address.substring(c + 1));
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, r -> {
      Thread t = new Thread(r, "metrics-http");
      t.setDaemon(true);
      return t;
    }, NioIoHandler.newFactory());
    try {
      Channel ch = new ServerBootstrap()
          .group(group)
          .channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel sc) {
              sc.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192), new Handler(registry));
            }
          })
          .bind(new InetSocketAddress(host, port)).sync().channel();
      return new MetricsServer(group, ch);
    } catch (Exception e) {
      group.shutdownGracefully();
      String why = e instanceof java.nio.channels.UnresolvedAddressException
          ? "cannot resolve host " + host
          : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw new ModelCacheException(ModelCacheException.Kind.IO, "cannot serve metrics on " + address + ": " + why);
    }
  }

  /** The bound port (useful when started on port 0). */
  public int port() {
    return ((InetSocketAddress) channel.localAddress()).getPort();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final PrometheusMeterRegistry registry;

    Handler(PrometheusMeterRegistry registry) {
      this.registry = registry;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      String path = req.uri().split("\\?", 2)[0];
      FullHttpResponse resp;
      if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
        resp = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed\n", "text/plain");
      } else if (path.equals("/metrics")) {
        resp = text(HttpResponseStatus.OK, registry.scrape(), "text/plain; version=0.0.4; charset=utf-8");
      } else if (path.equals("/healthz")) {
        resp = text(HttpResponseStatus.OK, "ok\n", "text/plain");
      } else {
        resp = text(HttpResponseStatus.NOT_FOUND, "not found\n", "text/plain");
      }
      boolean keepAlive = HttpUtil.isKeepAlive(req);
      HttpUtil.setKeepAlive(resp, keepAlive);
      var f = ctx.writeAndFlush(resp);
      if (!keepAlive) {
        f.addListener(ChannelFutureListener.CLOSE);
      }
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body, String type) {
      FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
      r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
      return r;
    }
  }
}
