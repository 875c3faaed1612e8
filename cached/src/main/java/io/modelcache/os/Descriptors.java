package io.modelcache.os;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.channels.SocketChannel;

/**
 * The file descriptor number behind a JDK socket channel. The JDK has no public accessor; its
 * channels implement {@code sun.nio.ch.SelChImpl.getFDVal()}, reachable because the launcher (and the
 * test JVMs) run with {@code --add-exports=java.base/sun.nio.ch=ALL-UNNAMED}.
 */
final class Descriptors {
  private static final Method GET_FD_VAL;
  private static final String WHY;

  static {
    Method m = null;
    String why = null;
    try {
      m = Class.forName("sun.nio.ch.SelChImpl").getMethod("getFDVal");
    } catch (ReflectiveOperationException | RuntimeException e) {
      why = e.toString();
    }
    GET_FD_VAL = m;
    WHY = why;
  }

  private Descriptors() {}

  static int fdOf(SocketChannel ch) throws IOException {
    if (GET_FD_VAL == null) {
      throw new IOException("cannot find a socket's descriptor (" + WHY + ")");
    }
    try {
      return (int) GET_FD_VAL.invoke(ch);
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new IOException("cannot find a socket's descriptor (run with --add-exports=java.base/sun.nio.ch=ALL-UNNAMED): " + e, e);
    }
  }
}
