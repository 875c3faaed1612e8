/**
 * The OCI distribution client: {@link io.modelcache.registry.RegistryClient} pulls and pushes manifests
 * and blobs over HTTP/1.1 (Netty, pooled keep-alive connections on one process-wide daemon event loop
 * group), with Basic/Bearer auth from the docker config and its credential helpers (read again when a
 * registry refuses them), HTTP proxies (absolute form, CONNECT) with a direct fallback, extra CA files
 * ({@link io.modelcache.registry.Network}), redirects and retries ({@link io.modelcache.registry.Retries}). Pure helpers
 * ({@link io.modelcache.registry.AuthChallenge}, {@link io.modelcache.registry.Backoff},
 * {@link io.modelcache.registry.HttpRanges}, {@link io.modelcache.registry.RedirectPolicy},
 * {@link io.modelcache.registry.ProxyEnv}, {@link io.modelcache.registry.DockerConfig}) hold the protocol
 * rules and have no I/O beyond files ({@code DockerConfig} also runs credential helper processes).
 * Threading: clients are thread-safe; each open blob stream belongs to one reader thread.
 */
package io.modelcache.registry;
