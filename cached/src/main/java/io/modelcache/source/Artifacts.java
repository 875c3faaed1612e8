package io.modelcache.source;

import io.modelcache.config.ProxyUrl;
import io.modelcache.config.RegistrySettings;
import io.modelcache.config.Settings;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.registry.Network;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Opens the store a reference names: a registry repository (through its mirrors) or an {@code oci:} layout. */
public final class Artifacts {
  private Artifacts() {}

  /**
   * {@code base} with what the config says about reaching registries: each registry's proxy and CA
   * file, and the docker config file ({@code credentials}). Used by the daemon and every CLI command that
   * talks to a registry, so that both reach registries the same way.
   */
  public static RegistryOptions configure(RegistryOptions base, Settings s) {
    Map<String, Network.Route> routes = new HashMap<>();
    for (RegistrySettings r : s.registries()) {
      if (r.proxy() != null || r.ca() != null) {
        URI proxy = r.proxy() == null ? null : ProxyUrl.parse(r.proxy());
        routes.put(r.host(), new Network.Route(proxy, r.ca()));
      }
    }
    RegistryOptions o = base.withNetwork(base.network().withRoutes(routes));
    return s.credentials() != null ? o.withDockerConfig(s.credentials()) : o;
  }

  public static ArtifactSource openSource(Reference ref, RegistryOptions options) throws IOException {
    return openSource(ref, options, List.of());
  }

  /**
   * With per-registry settings from the config: that registry's plain-HTTP choice (unless the caller
   * forced one) and its mirrors, tried in order before the registry itself.
   */
  public static ArtifactSource openSource(Reference ref, RegistryOptions options, List<RegistrySettings> registries)
      throws IOException {
    if (ref.isLayout()) {
      return OciLayout.open(ref);
    }
    RegistrySettings rs = registries.stream().filter(r -> r.host().equalsIgnoreCase(ref.registry())).findFirst().orElse(null);
    if (rs == null) {
      return RegistryClient.open(ref, options);
    }
    RegistryOptions upstream = options.plainHttp() == null && rs.plainHttp() != null ? options.withPlainHttp(rs.plainHttp()) : options;
    if (rs.mirrors().isEmpty()) {
      return RegistryClient.open(ref, upstream);
    }
    List<ArtifactSource> chain = new ArrayList<>();
    try {
      for (String mirror : rs.mirrors()) {
        Reference m = new Reference(mirror, ref.repository(), null, ref.tag(), ref.digest());
        RegistrySettings ms = registries.stream().filter(r -> r.host().equalsIgnoreCase(mirror)).findFirst().orElse(null);
        RegistryOptions mo = ms != null && ms.plainHttp() != null ? options.withPlainHttp(ms.plainHttp()) : options;
        chain.add(RegistryClient.open(m, mo));
      }
      chain.add(RegistryClient.open(ref, upstream));
    } catch (IOException | RuntimeException e) {
      for (ArtifactSource s : chain) {
        s.close();
      }
      throw e;
    }
    return new MirroredSource(ref, chain);
  }

  public static ArtifactSink openSink(Reference ref, RegistryOptions options) throws IOException {
    return ref.isLayout() ? OciLayout.create(ref) : RegistryClient.open(ref, options);
  }
}
