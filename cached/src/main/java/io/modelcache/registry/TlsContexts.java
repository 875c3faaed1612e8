package io.modelcache.registry;

import io.modelcache.error.ModelCacheException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;

/** Client TLS contexts: the system trust store, and one per extra CA file (built once). Thread-safe. */
final class TlsContexts {
  private static volatile SslContext system;
  private static final Map<Path, SslContext> WITH_CA = new ConcurrentHashMap<>();

  private TlsContexts() {}

  /** The system trust store, plus the certificates of {@code ca} when the registry names one. */
  static SslContext forRegistry(Path ca, String registry) throws IOException {
    if (ca == null) {
      return system();
    }
    SslContext c = WITH_CA.get(ca);
    if (c == null) {
      synchronized (WITH_CA) {
        c = WITH_CA.get(ca);
        if (c == null) {
          try {
            c = SslContextBuilder.forClient().trustManager(TrustStores.systemPlus(ca)).build();
          } catch (SSLException e) {
            throw new IOException("cannot initialise TLS: " + e.getMessage(), e);
          } catch (IllegalArgumentException e) {
            throw new ModelCacheException(ModelCacheException.Kind.USAGE, registry + ": CA file " + ca + ": " + e.getMessage());
          }
          WITH_CA.put(ca, c);
        }
      }
    }
    return c;
  }

  private static SslContext system() throws IOException {
    SslContext c = system;
    if (c == null) {
      synchronized (TlsContexts.class) {
        if (system == null) {
          try {
            system = SslContextBuilder.forClient().build();
          } catch (SSLException e) {
            throw new IOException("cannot initialise TLS: " + e.getMessage(), e);
          }
        }
        c = system;
      }
    }
    return c;
  }
}
