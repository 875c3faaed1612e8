package io.modelcache.trust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;

/** A signature found next to a manifest, not yet checked. */
public sealed interface FoundSignature {
  /** What a trusted key's check of this signature says: who signed (null: no trusted key) and what digest. */
  record Outcome(TrustedKey signer, String signedDigest, String form) {}

  /** Checks it against {@code keys}; {@code manifest} is the subject's exact bytes (for message signatures). */
  Outcome check(List<TrustedKey> keys, byte[] manifest);

  /** cosign's tag form: a simple-signing payload and the base64-decoded signature from its layer annotation. */
  record Tag(byte[] payload, byte[] signature) implements FoundSignature {
    @Override
    public Outcome check(List<TrustedKey> keys, byte[] manifest) {
      for (TrustedKey k : keys) {
        if (Signatures.verifies(k.key(), payload, signature)) {
          return new Outcome(k, SimpleSigning.signedDigest(payload), "cosign signature tag");
        }
      }
      return new Outcome(null, null, "cosign signature tag");
    }
  }

  /**
   * A sigstore bundle (v0.1 to v0.3) from an OCI 1.1 referrer: a messageSignature over the manifest
   * bytes, or a DSSE envelope whose payload is an in-toto statement naming the manifest as a subject
   * (cosign 3's image signatures) or a simple-signing payload.
   */
  record Bundle(byte[] json) implements FoundSignature {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String IN_TOTO = "application/vnd.in-toto+json";

    @Override
    public Outcome check(List<TrustedKey> keys, byte[] manifest) {
      try {
        JsonNode b = JSON.readTree(json);
        if (b == null || !b.path("mediaType").asText("").startsWith("application/vnd.dev.sigstore.bundle")) {
          return new Outcome(null, null, "sigstore bundle");
        }
        Base64.Decoder d = Base64.getDecoder();
        JsonNode ms = b.path("messageSignature");
        if (ms.isObject()) {
          byte[] sig = d.decode(ms.path("signature").asText(""));
          JsonNode md = ms.path("messageDigest");
          byte[] claimed = md.path("algorithm").asText("").equals("SHA2_256") ? d.decode(md.path("digest").asText("")) : null;
          for (TrustedKey k : keys) {
            if (Signatures.verifies(k.key(), manifest, sig)) {
              return new Outcome(k, Digest.of(manifest).toString(), "sigstore bundle (message signature)");
            }
            if (claimed != null && claimed.length == 32 && Signatures.verifiesDigest(k.key(), claimed, sig)) {
              return new Outcome(k, "sha256:" + HexFormat.of().formatHex(claimed), "sigstore bundle (message signature)");
            }
          }
          return new Outcome(null, null, "sigstore bundle (message signature)");
        }
        JsonNode env = b.path("dsseEnvelope");
        String type = env.path("payloadType").asText("");
        byte[] payload = d.decode(env.path("payload").asText(""));
        byte[] pae = Signatures.pae(type, payload);
        for (JsonNode s : env.path("signatures")) {
          byte[] sig = d.decode(s.path("sig").asText(""));
          for (TrustedKey k : keys) {
            if (Signatures.verifies(k.key(), pae, sig)) {
              return new Outcome(k, signedDigest(type, payload, Digest.of(manifest)), "sigstore bundle (DSSE)");
            }
          }
        }
        return new Outcome(null, null, "sigstore bundle (DSSE)");
      } catch (IOException | IllegalArgumentException malformed) {
        return new Outcome(null, null, "sigstore bundle");
      }
    }

    /** The digest a DSSE payload names: the subject itself when it is among an in-toto statement's subjects. */
    static String signedDigest(String type, byte[] payload, Digest subject) throws IOException {
      if (type.equals(SimpleSigning.MEDIA_TYPE)) {
        return SimpleSigning.signedDigest(payload);
      }
      if (!type.equals(IN_TOTO)) {
        return null;
      }
      String first = null;
      for (JsonNode s : JSON.readTree(payload).path("subject")) {
        String hex = s.path("digest").path("sha256").asText(null);
        if (hex == null) {
          continue;
        }
        String dg = "sha256:" + hex;
        if (dg.equals(subject.toString())) {
          return dg;
        }
        first = first == null ? dg : first;
      }
      return first;
    }
  }
}
