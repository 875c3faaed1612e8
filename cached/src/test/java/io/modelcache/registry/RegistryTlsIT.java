package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Reference;
import java.io.FileInputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS is used for non-loopback registries (or when forced); an untrusted certificate is refused. */
@Timeout(60)
class RegistryTlsIT {
  @Test
  void untrustedCertificateIsRefused(@TempDir Path dir) throws Exception {
    Path ks = dir.resolve("ks.p12");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-genkeypair", "-alias", "reg", "-keyalg", "EC", "-dname", "CN=127.0.0.1", "-ext", "san=ip:127.0.0.1",
        "-validity", "2", "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", "changeit",
        "-keypass", "changeit").redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    assertEquals(true, p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "keytool failed");
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(ks.toFile())) {
      store.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(store, "changeit".toCharArray());
    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 10);
    server.setHttpsConfigurator(new HttpsConfigurator(ssl));
    server.createContext("/", ex -> {
      ex.sendResponseHeaders(200, -1);
      ex.close();
    });
    server.start();
    String host = "127.0.0.1:" + server.getAddress().getPort();
    RegistryOptions o = RegistryOptions.defaults().withPlainHttp(true).withDockerConfig(dir.resolve("none.json"))
        .withPlainHttp(false).withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1));
    try (RegistryClient c = RegistryClient.open(Reference.parse(host + "/t/m"), o)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.fetchManifest("v1"));
      assertEquals(ModelCacheException.Kind.UNREACHABLE, e.kind());
      assertEquals(host + ": registry unreachable (TLS certificate not trusted)", e.getMessage());
    } finally {
      server.stop(0);
    }
  }
}
