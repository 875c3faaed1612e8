package io.modelcache.registry;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/** Trust stores for registries with a private CA: the JDK's trusted roots plus the CA's PEM certificates. */
final class TrustStores {
  private TrustStores() {}

  /**
   * A trust manager factory over the system roots and every certificate in {@code caPem}. A missing,
   * unreadable or certificate-less file is an IllegalArgumentException with a one-line reason.
   */
  static TrustManagerFactory systemPlus(Path caPem) {
    Collection<? extends Certificate> extra;
    try (InputStream in = Files.newInputStream(caPem)) {
      extra = CertificateFactory.getInstance("X.509").generateCertificates(in);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("no such file");
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot be read (" + e.getClass().getSimpleName() + ")");
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("not a PEM certificate file");
    }
    if (extra.isEmpty()) {
      throw new IllegalArgumentException("holds no certificate");
    }
    try {
      KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
      ks.load(null, null);
      int n = 0;
      TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      system.init((KeyStore) null);
      for (TrustManager tm : system.getTrustManagers()) {
        if (tm instanceof X509TrustManager x) {
          for (X509Certificate c : x.getAcceptedIssuers()) {
            ks.setCertificateEntry("system-" + n++, c);
          }
        }
      }
      for (Certificate c : extra) {
        ks.setCertificateEntry("ca-" + n++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ks);
      return tmf;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("cannot build a trust store (" + e.getClass().getSimpleName() + ")");
    }
  }
}
