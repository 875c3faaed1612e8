package io.modelcache.cli;

import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.trust.CosignPrivateKey;
import io.modelcache.trust.CosignSigner;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code modelcache sign REF --key FILE}: a cosign-compatible signature over the manifest REF resolves
 * to, written at the tag {@code sha256-<hex>.sig}, with a key file from {@code cosign generate-key-pair}
 * (passphrase from COSIGN_PASSWORD, empty when unset).
 */
@Command(name = "sign", description = {
    "Sign the manifest REF resolves to, as cosign does (tag sha256-<hex>.sig), with a cosign key file.",
    "The key's passphrase is read from COSIGN_PASSWORD (empty when unset)."})
final class SignCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "REF", description = "The model to sign: host[:port]/repo:tag, @sha256:..., or oci:PATH:TAG.")
  String ref;

  @Option(names = "--key", paramLabel = "FILE", required = true, description = "cosign private key file (cosign.key).")
  Path key;

  @Override
  public Integer call() throws Exception {
    Reference r = Reference.parse(ref);
    registry.settings(); // checked like the daemon's: a broken file fails here too
    if (!Files.isReadable(key)) {
      throw new io.modelcache.error.ModelCacheException(io.modelcache.error.ModelCacheException.Kind.USAGE,
          "key " + key + ": cannot be read");
    }
    PrivateKey pk = CosignPrivateKey.decrypt(key.toString(), Files.readString(key, StandardCharsets.US_ASCII),
        CosignPrivateKey.passphraseFromEnv());
    CosignSigner.Signed s;
    if (r.isLayout()) {
      try (OciLayout layout = OciLayout.open(r)) {
        s = CosignSigner.sign(layout, r.tagOrDigest(), pk);
      }
    } else {
      // Straight to the registry (never a mirror): the signature is written where the model lives.
      try (RegistryClient c = (RegistryClient) registry.openSink(r)) {
        s = CosignSigner.sign(c, r.tagOrDigest(), pk);
      }
    }
    System.out.println("signed " + ref + " (" + s.digest() + "): " + s.tag());
    return 0;
  }
}
