package io.modelcache.daemon;

import io.modelcache.config.YamlTree;
import io.modelcache.error.ModelCacheException;
import java.nio.file.Path;

/**
 * One file of {@code mounts.d}: a reference and where to mount it. Files are YAML:
 * <pre>
 * reference: registry.example.com/models/llama3:v1
 * mountpoint: /var/lib/modelcache/mounts/llama3
 * plainHttp: false   # optional
 * </pre>
 */
public record DeclaredMount(String file, String reference, Path mountpoint, Boolean plainHttp) {

  public static DeclaredMount parse(String file, String yaml) throws ModelCacheException {
    YamlTree t = YamlTree.parse(file, yaml, false);
    String ref = null;
    String mp = null;
    Boolean plain = null;
    for (var e : t.values().entrySet()) {
      switch (e.getKey()) {
        case "reference" -> ref = e.getValue().text();
        case "mountpoint" -> mp = e.getValue().text();
        case "plainHttp" -> {
          String v = e.getValue().text();
          if (!v.equals("true") && !v.equals("false")) {
            throw t.error("plainHttp", "expected true or false, got '" + v + "'");
          }
          plain = Boolean.valueOf(v);
        }
        default -> throw t.error(e.getKey(), "unknown key (expected reference, mountpoint, plainHttp)");
      }
    }
    if (ref == null || ref.isBlank()) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": missing key 'reference'");
    }
    if (mp == null || mp.isBlank() || !mp.startsWith("/")) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": 'mountpoint' must be an absolute path");
    }
    return new DeclaredMount(file, ref, Path.of(mp).normalize(), plain);
  }

  /** Same mount, whichever file declares it. */
  public boolean sameMount(DeclaredMount o) {
    return reference.equals(o.reference) && mountpoint.equals(o.mountpoint) && java.util.Objects.equals(plainHttp, o.plainHttp);
  }
}
