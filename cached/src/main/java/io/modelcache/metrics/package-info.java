/**
 * Prometheus metrics: Micrometer meters bound to the cache, fetches, mounts and FUSE operations, and
 * a small Netty HTTP endpoint that serves them. Meters are thread-safe; the server runs on one
 * event-loop thread.
 */
package io.modelcache.metrics;
