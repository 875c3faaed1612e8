package io.modelcache.trust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.util.Base64;

/**
 * Writes a cosign signature in the tag form: the simple-signing payload as a blob, and at the tag
 * {@code sha256-<hex>.sig} an OCI image manifest with that payload as a layer carrying the base64
 * signature in {@code dev.cosignproject.cosign/signature}. Signatures already there are kept (cosign
 * appends), so a model can carry several signers; only an identical layer is not added twice (ECDSA
 * signatures are randomized, so signing again with the same key adds one). Sequential, on the caller's thread.
 */
public final class CosignSigner {
  static final String IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private CosignSigner() {}

  /** What was signed and where the signature went. */
  public record Signed(Digest digest, String tag, Digest signatureManifest) {}

  /** Signs the manifest {@code tagOrDigest} of {@code repo} resolves to. */
  public static <S extends ArtifactSource & ArtifactSink> Signed sign(S repo, String tagOrDigest, PrivateKey key)
      throws IOException {
    FetchedManifest fm = repo.fetchManifest(tagOrDigest);
    return signDigest(repo, fm.digest(), key);
  }

  public static <S extends ArtifactSource & ArtifactSink> Signed signDigest(S repo, Digest subject, PrivateKey key)
      throws IOException {
    Reference r = repo.reference();
    String identity = r.isLayout() ? r.layout().toString() : r.registry() + "/" + r.repository();
    byte[] payload = SimpleSigning.payload(identity, subject);
    String sig;
    try {
      sig = Base64.getEncoder().encodeToString(Signatures.sign(key, payload));
    } catch (GeneralSecurityException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "cannot sign with this key: " + e.getMessage());
    }
    Digest payloadDigest = Digest.of(payload);
    putIfAbsent(repo, payloadDigest, payload);

    ArrayNode layers = JSON.createArrayNode();
    String tag = SignatureFinder.signatureTag(subject);
    try {
      for (JsonNode l : JSON.readTree(repo.fetchManifest(tag).bytes()).path("layers")) {
        boolean same = l.path("digest").asText().equals(payloadDigest.toString())
            && l.path("annotations").path(SimpleSigning.SIGNATURE_ANNOTATION).asText().equals(sig);
        if (!same) {
          layers.add(l);
        }
      }
    } catch (ModelCacheException e) {
      if (e.kind() != ModelCacheException.Kind.NOT_FOUND) {
        throw e;
      }
    }
    ObjectNode layer = layers.addObject()
        .put("mediaType", SimpleSigning.MEDIA_TYPE)
        .put("size", payload.length)
        .put("digest", payloadDigest.toString());
    layer.putObject("annotations").put(SimpleSigning.SIGNATURE_ANNOTATION, sig);

    ObjectNode config = JSON.createObjectNode();
    config.put("architecture", "").put("created", "0001-01-01T00:00:00Z").put("os", "");
    config.putArray("history").addObject().put("created", "0001-01-01T00:00:00Z");
    ArrayNode diffIds = config.putObject("rootfs").put("type", "layers").putArray("diff_ids");
    layers.forEach(l -> diffIds.add(l.path("digest").asText()));
    config.putObject("config");
    byte[] configBytes = JSON.writeValueAsBytes(config);
    Digest configDigest = Digest.of(configBytes);
    putIfAbsent(repo, configDigest, configBytes);

    ObjectNode manifest = JSON.createObjectNode().put("schemaVersion", 2).put("mediaType", MediaTypes.OCI_MANIFEST);
    manifest.putObject("config").put("mediaType", IMAGE_CONFIG).put("size", configBytes.length)
        .put("digest", configDigest.toString());
    manifest.set("layers", layers);
    Digest m = repo.putManifest(tag, JSON.writeValueAsBytes(manifest), MediaTypes.OCI_MANIFEST);
    return new Signed(subject, tag, m);
  }

  private static void putIfAbsent(ArtifactSink sink, Digest d, byte[] bytes) throws IOException {
    if (!sink.hasBlob(d)) {
      sink.putBlob(d, bytes.length, () -> new ByteArrayInputStream(bytes));
    }
  }
}
