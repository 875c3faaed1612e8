package io.modelcache.registry;

import io.netty.channel.Channel;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.proxy.ProxyConnectException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** CONNECT tunnels through an HTTP proxy (Netty's HttpProxyHandler) and proxy credentials. Stateless. */
final class ProxyTunnels {
  private ProxyTunnels() {}

  /** A handler that opens a CONNECT tunnel through {@code proxy} before anything else is sent. */
  static HttpProxyHandler handler(URI proxy, long timeoutMs) {
    InetSocketAddress at = new InetSocketAddress(proxy.getHost(), proxy.getPort());
    String[] user = userInfo(proxy);
    HttpProxyHandler h = user == null ? new HttpProxyHandler(at) : new HttpProxyHandler(at, user[0], user[1]);
    h.setConnectTimeoutMillis(timeoutMs);
    return h;
  }

  /** Waits for the tunnel of {@code ch}; an UNREACHABLE TransportException (prefixed {@code via}) if it fails. */
  static void await(Channel ch, HttpProxyHandler tunnel, String via, long waitMs) throws IOException {
    io.netty.util.concurrent.Future<Channel> t = tunnel.connectFuture();
    boolean finished;
    try {
      finished = t.await(waitMs);
    } catch (InterruptedException e) {
      ch.close();
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while opening a proxy tunnel");
    }
    if (!finished || !t.isSuccess()) {
      ch.close();
      String why = !finished ? "CONNECT timed out" : describe(t.cause());
      throw new TransportException(TransportException.Kind.UNREACHABLE, via + why, true, t.cause());
    }
  }

  /** "CONNECT refused (403 Forbidden)" from Netty's "..., status: 403 Forbidden", else the usual words. */
  static String describe(Throwable t) {
    String m = t == null || t.getMessage() == null ? "" : t.getMessage();
    int i = m.indexOf("status: ");
    if (t instanceof ProxyConnectException && i >= 0) {
      return "CONNECT refused (" + m.substring(i + 8).trim() + ")";
    }
    if (t instanceof ProxyConnectException && m.contains("timeout")) {
      return "CONNECT timed out";
    }
    return HttpTransport.describe(t);
  }

  /** The {@code Proxy-Authorization} value for a proxy URL with user information, else null. */
  static String authorization(URI proxy) {
    String[] u = userInfo(proxy);
    return u == null ? null
        : "Basic " + Base64.getEncoder().encodeToString((u[0] + ":" + u[1]).getBytes(StandardCharsets.UTF_8));
  }

  private static String[] userInfo(URI proxy) {
    String ui = proxy.getUserInfo();
    if (ui == null || ui.isEmpty()) {
      return null;
    }
    int c = ui.indexOf(':');
    return c < 0 ? new String[] {ui, ""} : new String[] {ui.substring(0, c), ui.substring(c + 1)};
  }
}
