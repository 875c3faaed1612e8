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

  public static List<FoundSignature> find(ArtifactSource src, Digest subject) throws IOException {
    List<FoundSignature> out = new ArrayList<>();
    FetchedManifest sig = optional(src, signatureTag(subject));
    if (sig != null) {
      for (JsonNode layer : JSON.readTree(sig.bytes()).path("layers")) {
        String b64 = layer.path("annotations").path(SimpleSigning.SIGNATURE_ANNOTATION).asText(null);
        if (!SimpleSigning.MEDIA_TYPE.equals(layer.path("mediaType").asText()) || b64 == null || out.size() >= MAX_SIGNATURES) {
          continue;
        }
        byte[] payload = src.fetchBlob(Digest.parse(layer.path("digest").asText()), MAX_SIGNATURE_BYTES);
        try {
          out.add(new FoundSignature.Tag(payload, Base64.getDecoder().decode(b64.trim())));
        } catch (IllegalArgumentException notBase64) {
          out.add(new FoundSignature.Tag(payload, new byte[0])); // present, but no key can verify it
        }
      }
    }
    byte[] index = src.referrers(subject);
    if (index == null) {
      FetchedManifest tagged = optional(src, referrersTag(subject));
      index = tagged == null ? null : tagged.bytes();
    }
    if (index != null) {
      for (JsonNode m : JSON.readTree(index).path("manifests")) {
        if (!m.path("artifactType").asText("").startsWith(BUNDLE_PREFIX) || out.size() >= MAX_SIGNATURES) {
          continue;
        }
        FetchedManifest ref = src.fetchManifest(m.path("digest").asText());
        JsonNode layer = JSON.readTree(ref.bytes()).path("layers").path(0);
        if (layer.path("mediaType").asText("").startsWith(BUNDLE_PREFIX)) {
          out.add(new FoundSignature.Bundle(src.fetchBlob(Digest.parse(layer.path("digest").asText()), MAX_SIGNATURE_BYTES)));
        }
      }
    }
    return out;
  }

  private static FetchedManifest optional(ArtifactSource src, String tag) throws IOException {
    try {
      return src.fetchManifest(tag);
    } catch (ModelCacheException e) {
      if (e.kind() == ModelCacheException.Kind.NOT_FOUND) {
        return null;
      }
      throw e;
    }
  }
}
