package io.modelcache.registry;

import java.net.URI;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How a client reaches a registry beyond its address: the registry's explicit proxy and extra CA file
 * (from the config's {@code registries[]}), and the proxy environment for every other host. Immutable.
 */
public record Network(Map<String, Route> routes, ProxyEnv env) {
  /** One registry's explicit proxy ({@code http://host:port}, or null) and CA file (or null). */
  public record Route(URI proxy, Path ca) {
    public static final Route NONE = new Route(null, null);
  }

  public static final Network DIRECT = new Network(Map.of(), ProxyEnv.NONE);

  public Network {
    Map<String, Route> m = new HashMap<>();
    routes.forEach((k, v) -> m.put(k.toLowerCase(Locale.ROOT), v));
    routes = Map.copyOf(m);
    env = env == null ? ProxyEnv.NONE : env;
  }

  /** No explicit routes; proxies from this process's environment. */
  public static Network fromEnvironment() {
    return new Network(Map.of(), ProxyEnv.from(System.getenv()));
  }

  public Network withRoutes(Map<String, Route> r) {
    return new Network(r, env);
  }

  /** The explicit route of registry {@code host} (host[:port]), or {@link Route#NONE}. */
  public Route route(String host) {
    return host == null ? Route.NONE : routes.getOrDefault(host.toLowerCase(Locale.ROOT), Route.NONE);
  }
}
