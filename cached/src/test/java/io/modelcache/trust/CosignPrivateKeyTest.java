package io.modelcache.trust;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import io.modelcache.testkit.CosignSpec;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class CosignPrivateKeyTest {
  /**
   * A known answer from the Go implementation cosign uses for its key files
   * (secure-systems-lab/go-securesystemslib, encrypted/encrypted_test.go, TestDecrypt): passphrase
   * "supersecret", plaintext "reallyimportant".
   */
  static final String GO_VECTOR = "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":32768,\"r\":8,\"p\":1},\"salt\":\"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g=\"},"
      + "\"cipher\":{\"name\":\"nacl/secretbox\",\"nonce\":\"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik\"},\"ciphertext\":\"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ==\"}";

  @Test
  void opensTheGoImplementationsVector() throws Exception {
    byte[] plain = CosignPrivateKey.open("vector", GO_VECTOR.getBytes(StandardCharsets.UTF_8), "supersecret".getBytes(StandardCharsets.UTF_8));
    assertEquals("reallyimportant", new String(plain, StandardCharsets.UTF_8));
  }

  @Test
  void theTestsOwnBuilderReproducesTheVector() throws Exception {
    var v = new ObjectMapper().readTree(GO_VECTOR);
    byte[] salt = Base64.getDecoder().decode(v.path("kdf").path("salt").asText());
    byte[] nonce = Base64.getDecoder().decode(v.path("cipher").path("nonce").asText());
    String built = CosignSpec.envelope("reallyimportant".getBytes(StandardCharsets.UTF_8), "supersecret", salt, nonce, 32768);
    assertEquals(v.path("ciphertext").asText(), new ObjectMapper().readTree(built).path("ciphertext").asText());
  }

  @Test
  void readsKeyFilesInBothPemSpellings() throws Exception {
    KeyPair k = CosignSpec.p256();
    for (String type : new String[] {"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}) {
      String file = CosignSpec.encryptedKeyFile(k.getPrivate(), "hunter2", type);
      assertArrayEquals(k.getPrivate().getEncoded(),
          CosignPrivateKey.decrypt("cosign.key", file, "hunter2".getBytes(StandardCharsets.UTF_8)).getEncoded());
    }
    String empty = CosignSpec.encryptedKeyFile(k.getPrivate(), "", "ENCRYPTED SIGSTORE PRIVATE KEY");
    assertArrayEquals(k.getPrivate().getEncoded(), CosignPrivateKey.decrypt("cosign.key", empty, new byte[0]).getEncoded());
  }

  @Test
  void wrongPassphraseAndOtherFilesAreOneLine() throws Exception {
    String file = CosignSpec.encryptedKeyFile(CosignSpec.p256().getPrivate(), "right", "ENCRYPTED SIGSTORE PRIVATE KEY");
    ModelCacheException e = assertThrows(ModelCacheException.class,
        () -> CosignPrivateKey.decrypt("/k/cosign.key", file, "wrong".getBytes(StandardCharsets.UTF_8)));
    assertEquals("key /k/cosign.key: wrong passphrase (set COSIGN_PASSWORD)", e.getMessage());
    e = assertThrows(ModelCacheException.class,
        () -> CosignPrivateKey.decrypt("/k/cosign.pub", CosignSpec.publicPem(CosignSpec.p256().getPublic()), new byte[0]));
    assertEquals("key /k/cosign.pub: not a cosign private key (expected a PEM block 'ENCRYPTED SIGSTORE PRIVATE KEY')", e.getMessage());
    String huge = GO_VECTOR.replace("\"N\":32768", "\"N\":1073741824");
    e = assertThrows(ModelCacheException.class,
        () -> CosignPrivateKey.open("k", huge.getBytes(StandardCharsets.UTF_8), new byte[0]));
    assertTrue(e.getMessage().startsWith("key k: unsupported scrypt parameters N=1073741824"), e.getMessage());
  }
}
