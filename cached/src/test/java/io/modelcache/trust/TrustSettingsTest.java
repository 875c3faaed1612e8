package io.modelcache.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.config.Settings;
import io.modelcache.config.YamlTree;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Reference;
import io.modelcache.testkit.CosignSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code trust:} block of config.yaml, checked like every other key (file, line, key). */
class TrustSettingsTest {
  @TempDir Path tmp;

  private Settings parse(String yaml) throws ModelCacheException {
    return Settings.defaults(Path.of("/var/lib/modelcache")).apply(YamlTree.parse("config.yaml", yaml));
  }

  private Path key(String name) throws Exception {
    Path p = tmp.resolve(name);
    Files.writeString(p, CosignSpec.publicPem(CosignSpec.p256().getPublic()));
    return p;
  }

  @Test
  void rulesAreRead() throws Exception {
    Path a = key("release.pub");
    Path b = key("ci.pub");
    Settings s = parse("""
        trust:
          - scope: registry.example.com/models
            require: sigstore
            keys: [%s, %s]
          - scope: "*"
            require: reject
          - scope: 127.0.0.1:5000
            require: none
        """.formatted(a, b));
    assertEquals(3, s.trust().size());
    TrustRule r = s.trust().get(0);
    assertEquals("registry.example.com/models", r.scope());
    assertEquals(Require.SIGSTORE, r.require());
    assertEquals("release.pub, ci.pub", r.keyNames());
    assertEquals(Require.REJECT, s.trustPolicy().ruleFor(Reference.parse("quay.io/x:y")).require());
    assertEquals(Require.NONE, s.trustPolicy().ruleFor(Reference.parse("127.0.0.1:5000/x:y")).require());
    assertEquals(0, Settings.defaults(Path.of("/x")).trust().size());
  }

  private void fails(String yaml, String message) {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse(yaml));
    assertEquals(message, e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
  }

  @Test
  void badEntriesNameFileLineAndKey() throws Exception {
    Path k = key("k.pub");
    fails("trust:\n  - scope: a.example\n    require: none\n    signers: x\n", "config.yaml line 4: trust.0.signers: unknown key");
    fails("trust:\n  - scope: a.example\n    require: maybe\n",
        "config.yaml line 3: trust.0.require: expected sigstore, none or reject, got 'maybe'");
    fails("trust:\n  - scope: a.example\n    require: sigstore\n",
        "config.yaml line 3: trust.0.require: require: sigstore needs at least one key file");
    fails("trust:\n  - scope: a.example\n    require: sigstore\n    keys: [" + tmp.resolve("missing.pub") + "]\n",
        "config.yaml line 4: trust.0.keys: cannot read key " + tmp.resolve("missing.pub") + ": no such file");
    Path notKey = tmp.resolve("bad.pub");
    Files.writeString(notKey, "hello\n");
    fails("trust:\n  - scope: a.example\n    require: sigstore\n    keys: [" + notKey + "]\n",
        "config.yaml line 4: trust.0.keys: key " + notKey + ": no PEM 'PUBLIC KEY' block");
    fails("trust:\n  - require: none\n", "config.yaml line 2: trust.0.require: trust entry without a scope (use \"*\" for every registry)");
    fails("trust:\n  - scope: https://a.example\n    require: none\n",
        "config.yaml line 2: trust.0.scope: expected '*' or host[:port] with an optional repository prefix, got 'https://a.example'");
    fails("trust:\n  - scope: a.example\n    require: none\n    keys: [" + k + "]\n",
        "config.yaml line 4: trust.0.keys: keys only apply to require: sigstore (trust.0.require is none)");
  }
}
