package io.modelcache.cli;

import io.modelcache.chunkindex.IndexStore;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
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
 * to, written at the tag {@code sha256-<hex>.sig}, and one over the model's chunk index when it has
 * one, with a key file from {@code cosign generate-key-pair} (passphrase from COSIGN_PASSWORD, empty
 * when unset).
 */
@Command(name = "sign", description = {
    "Sign the manifest REF resolves to, as cosign does (tag sha256-<hex>.sig), with a cosign key file;",
    "the model's chunk index is signed too when it has one.",
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
    if (r.isLayout()) {
      try (OciLayout layout = OciLayout.open(r)) {
        signWithIndex(layout, r, pk);
      }
    } else {
      // Straight to the registry (never a mirror): the signature is written where the model lives.
      try (RegistryClient c = (RegistryClient) registry.openSink(r)) {
        signWithIndex(c, r, pk);
      }
    }
    return 0;
  }

  /**
   * Signs the manifest, then the model's chunk index when it has one: under a {@code require: sigstore}
   * rule a daemon uses an index only when it is signed too.
   */
  private <S extends ArtifactSource & ArtifactSink> void signWithIndex(S repo, Reference r, PrivateKey pk)
      throws java.io.IOException {
    CosignSigner.Signed s = CosignSigner.sign(repo, r.tagOrDigest(), pk);
    System.out.println("signed " + ref + " (" + s.digest() + "): " + s.tag());
    IndexStore.Found index = IndexStore.find(repo, s.digest());
    if (index != null) {
      CosignSigner.Signed i = CosignSigner.signDigest(repo, index.artifact(), pk);
      System.out.println("signed its chunk index " + index.artifact() + ": " + i.tag());
    }
  }
}
