package io.modelcache.trust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.oci.Digest;
import java.io.IOException;

/**
 * cosign's simple-signing payload ({@code application/vnd.dev.cosign.simplesigning.v1+json}, after
 * Red Hat's "simple signing"): the signed document naming the manifest digest in
 * {@code critical.image.docker-manifest-digest}, with {@code critical.type} "cosign container image signature".
 */
public final class SimpleSigning {
  public static final String MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
  public static final String TYPE = "cosign container image signature";
  /** The layer annotation holding the base64 signature over the payload's exact bytes. */
  public static final String SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
  private static final ObjectMapper JSON = new ObjectMapper();

  private SimpleSigning() {}

  /** The payload cosign writes for {@code repository} (no tag) at {@code digest}. */
  public static byte[] payload(String dockerReference, Digest digest) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode critical = root.putObject("critical");
    critical.putObject("identity").put("docker-reference", dockerReference);
    critical.putObject("image").put("docker-manifest-digest", digest.toString());
    critical.put("type", TYPE);
    root.putNull("optional");
    try {
      return JSON.writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The digest a payload names, or null when it is not a cosign image-signature payload. */
  public static String signedDigest(byte[] payload) {
    try {
      JsonNode n = JSON.readTree(payload);
      if (n == null || !TYPE.equals(n.path("critical").path("type").asText(null))) {
        return null;
      }
      String d = n.path("critical").path("image").path("docker-manifest-digest").asText(null);
      return d != null && Digest.isValid(d) ? d : null;
    } catch (IOException notJson) {
      return null;
    }
  }
}
