package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.CosignSpec;
import io.modelcache.trust.Require;
import io.modelcache.trust.TrustGate;
import io.modelcache.trust.TrustPolicy;
import io.modelcache.trust.TrustRule;
import io.modelcache.trust.TrustedKey;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The OCI 1.1 referrers API path (Debian's docker-registry has none, so TrustIT covers the tag
 * fallback): a registry on 127.0.0.1 that answers {@code GET /v2/<name>/referrers/<digest>} with an
 * index pointing at a sigstore bundle (a messageSignature over the manifest); the gate admits it and
 * never asks for the referrers tag.
 */
class ReferrersApiTest {
  @Test
  void bundleFromTheReferrersApiIsVerified() throws Exception {
    KeyPair k = CosignSpec.p256();
    byte[] manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[]}"
        .getBytes(StandardCharsets.UTF_8);
    Digest subject = Digest.of(manifest);
    byte[] bundle = CosignSpec.messageBundle(k.getPrivate(), manifest);
    byte[] referrer = CosignSpec.bundleManifest(bundle, subject.toString(), "application/vnd.oci.image.manifest.v1+json",
        manifest.length).getBytes(StandardCharsets.UTF_8);
    byte[] index = CosignSpec.referrersIndex(Digest.of(referrer).toString(), referrer.length).getBytes(StandardCharsets.UTF_8);
    Map<String, byte[]> routes = new HashMap<>();
    Map<String, String> types = new HashMap<>();
    routes.put("/v2/models/m/manifests/v1", manifest);
    types.put("/v2/models/m/manifests/v1", "application/vnd.oci.image.manifest.v1+json");
    routes.put("/v2/models/m/referrers/" + subject, index);
    types.put("/v2/models/m/referrers/" + subject, "application/vnd.oci.image.index.v1+json");
    routes.put("/v2/models/m/manifests/" + Digest.of(referrer), referrer);
    types.put("/v2/models/m/manifests/" + Digest.of(referrer), "application/vnd.oci.image.manifest.v1+json");
    routes.put("/v2/models/m/blobs/" + Digest.of(bundle), bundle);
    types.put("/v2/models/m/blobs/" + Digest.of(bundle), "application/octet-stream");
    try (ScriptedServer s = new ScriptedServer((n, head, out, sock) -> {
      String path = head.split(" ")[1];
      byte[] body = routes.get(path);
      if (body == null) {
        ScriptedServer.write(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", null);
      } else {
        ScriptedServer.write(out, "HTTP/1.1 200 OK\r\nContent-Type: " + types.get(path) + "\r\nContent-Length: " + body.length
            + "\r\nConnection: close\r\n\r\n", body);
      }
    })) {
      Reference ref = Reference.parse(s.hostPort() + "/models/m:v1");
      TrustPolicy policy = new TrustPolicy(List.of(new TrustRule(s.hostPort(), Require.SIGSTORE,
          List.of(new TrustedKey("k.pub", TrustedKey.parse(CosignSpec.publicPem(k.getPublic())))))));
      try (RegistryClient c = RegistryClient.open(ref, RegistryOptions.defaults())) {
        TrustGate.Admission a = TrustGate.admit(c, ref, "v1", ref.toString(), policy);
        assertEquals(subject.toString(), a.digest());
        assertEquals("verified by k.pub (sigstore bundle (message signature))", a.state());
      }
      List<String> paths = s.requests.stream().map(h -> h.split(" ")[1]).toList();
      assertTrue(paths.contains("/v2/models/m/referrers/" + subject), paths.toString());
      assertTrue(paths.stream().noneMatch(p -> p.equals("/v2/models/m/manifests/sha256-" + subject.hex())), paths.toString());
    }
  }
}
