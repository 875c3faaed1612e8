package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketException;
import org.junit.jupiter.api.Test;

class TransientTest {
  static TransportException t(TransportException.Kind k, String why) {
    return new TransportException(k, why, false, null);
  }

  @Test
  void transportFailuresAreTransientByKind() {
    assertEquals("server_error", Transient.reason(t(TransportException.Kind.SERVER, "503 Service Unavailable")));
    assertEquals("timeout", Transient.reason(t(TransportException.Kind.TIMEOUT, "no data for 30s")));
    assertEquals("unreachable", Transient.reason(t(TransportException.Kind.UNREACHABLE, "connection refused")));
    assertEquals("truncated", Transient.reason(t(TransportException.Kind.BROKEN, "connection closed after 100 body bytes")));
    assertEquals("reset", Transient.reason(t(TransportException.Kind.BROKEN, "connection reset")));
  }

  @Test
  void wrappedTheWayTheClientReportsThem() {
    IOException stream = new IOException("r/m: blob sha256:ab read failed (connection reset)",
        t(TransportException.Kind.BROKEN, "connection reset"));
    assertEquals("reset", Transient.reason(stream));
    ModelCacheException budget = new ModelCacheException(Kind.UNREACHABLE, "r: registry error (503 Service Unavailable)",
        t(TransportException.Kind.SERVER, "503 Service Unavailable"));
    assertEquals("server_error", Transient.reason(budget));
  }

  @Test
  void socketFailuresOfOtherSources() {
    assertEquals("unreachable", Transient.reason(new ConnectException("Connection refused")));
    assertEquals("reset", Transient.reason(new SocketException("Connection reset")));
    assertEquals("timeout", Transient.reason(new java.net.SocketTimeoutException("Read timed out")));
    assertEquals("truncated", Transient.reason(new EOFException("ended early")));
  }

  @Test
  void lastingFailuresAreNot() {
    assertNull(Transient.reason(ModelCacheException.notFound("r: blob sha256:ab not found")));
    assertNull(Transient.reason(new ModelCacheException(Kind.AUTH, "r: authentication failed")));
    assertNull(Transient.reason(ModelCacheException.digestMismatch("r: blob sha256:ab failed verification")));
    assertNull(Transient.reason(new IOException("layout file unreadable")));
    assertNull(Transient.reason(new ModelCacheException(Kind.UNREACHABLE, "timed out fetching blob")));
  }
}
