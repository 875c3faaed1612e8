package io.modelcache.trust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Reads the cosign signatures stored next to a manifest, in both places cosign puts them: the tag
 * {@code sha256-<hex>.sig} (an image manifest whose simple-signing layers carry the signature in the
 * {@code dev.cosignproject.cosign/signature} annotation), and OCI 1.1 referrers with artifactType
 * {@code application/vnd.dev.sigstore.bundle.v0.3+json} (the referrers API, else the referrers tag
 * {@code sha256-<hex>}). Only manifests and the small signature blobs are read, never a blob of the
 * model. Bounded: at most {@link #MAX_SIGNATURES} signatures of at most {@link #MAX_SIGNATURE_BYTES}.
 */
public final class SignatureFinder {
  public static final String BUNDLE_ARTIFACT = "application/vnd.dev.sigstore.bundle.v0.3+json";
  static final String BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle";
  static final int MAX_SIGNATURES = 32;
  static final long MAX_SIGNATURE_BYTES = 1 << 20;
  private static final ObjectMapper JSON = new ObjectMapper();

  private SignatureFinder() {}

  /** cosign's signature tag for a digest. */
  public static String signatureTag(Digest d) {
    return "sha256-" + d.hex() + ".sig";
  }

  /** The OCI referrers tag schema's tag for a digest. */
  public static String referrersTag(Digest d) {
    return "sha256-" + d.hex();
  }

  /**
   * Every signature found for {@code subject}. Broken or missing pieces (malformed JSON, a bad
   * digest, a payload blob that is gone or does not match) are passed over, so they count as no
   * signature; an unreachable registry or refused credentials fail the call.
   */
  public static List<FoundSignature> find(ArtifactSource src, Digest subject) throws IOException {
    List<FoundSignature> out = new ArrayList<>();
    JsonNode sig = json(optional(src, signatureTag(subject)));
    for (JsonNode layer : sig.path("layers")) {
      String b64 = layer.path("annotations").path(SimpleSigning.SIGNATURE_ANNOTATION).asText(null);
      if (!SimpleSigning.MEDIA_TYPE.equals(layer.path("mediaType").asText()) || b64 == null || out.size() >= MAX_SIGNATURES) {
        continue;
      }
      byte[] payload = optionalBlob(src, layer.path("digest").asText());
      if (payload == null) {
        continue;
      }
      try {
        out.add(new FoundSignature.Tag(payload, Base64.getDecoder().decode(b64.trim())));
      } catch (IllegalArgumentException notBase64) {
        out.add(new FoundSignature.Tag(payload, new byte[0])); // present, but no key can verify it
      }
    }
    byte[] index = src.referrers(subject);
    JsonNode referrers = index != null ? json(index) : json(optional(src, referrersTag(subject)));
    for (JsonNode m : referrers.path("manifests")) {
      if (!m.path("artifactType").asText("").startsWith(BUNDLE_PREFIX) || out.size() >= MAX_SIGNATURES
          || !Digest.isValid(m.path("digest").asText())) {
        continue;
      }
      JsonNode layer = json(optional(src, m.path("digest").asText())).path("layers").path(0);
      if (layer.path("mediaType").asText("").startsWith(BUNDLE_PREFIX)) {
        byte[] bundle = optionalBlob(src, layer.path("digest").asText());
        if (bundle != null) {
          out.add(new FoundSignature.Bundle(bundle));
        }
      }
    }
    return out;
  }

  private static FetchedManifest optional(ArtifactSource src, String tag) throws IOException {
    try {
      return src.fetchManifest(tag);
    } catch (ModelCacheException e) {
      if (passOver(e)) {
        return null;
      }
      throw e;
    }
  }

  private static byte[] optionalBlob(ArtifactSource src, String digest) throws IOException {
    if (!Digest.isValid(digest)) {
      return null;
    }
    try {
      return src.fetchBlob(Digest.parse(digest), MAX_SIGNATURE_BYTES);
    } catch (ModelCacheException e) {
      if (passOver(e)) {
        return null;
      }
      throw e;
    }
  }

  /** Missing, malformed or mismatching signature material: no signature, not an error. */
  private static boolean passOver(ModelCacheException e) {
    return switch (e.kind()) {
      case NOT_FOUND, INVALID_ARTIFACT, DIGEST_MISMATCH -> true;
      default -> false;
    };
  }

  /** The JSON of a manifest or index; an empty object when absent or not JSON. */
  private static JsonNode json(FetchedManifest m) {
    return m == null ? JSON.createObjectNode() : json(m.bytes());
  }

  private static JsonNode json(byte[] bytes) {
    try {
      JsonNode n = JSON.readTree(bytes);
      return n == null ? JSON.createObjectNode() : n;
    } catch (IOException notJson) {
      return JSON.createObjectNode();
    }
  }
}
