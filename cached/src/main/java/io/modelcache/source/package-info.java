/**
 * Chooses the artifact store for a reference (registry, registry behind mirrors, or OCI layout), and
 * keeps transient registry faults from the daemon's readers ({@link io.modelcache.source.ResilientSource}:
 * streams resumed at the last delivered byte, calls retried with backoff until the fetch timeout
 * passes without progress, small blobs fetched again on a digest mismatch).
 * {@link io.modelcache.source.MirroredSource} and {@code ResilientSource} are thread-safe; mirror
 * back-off state is guarded by one small lock; a resumed stream is read by one thread at a time and
 * may be closed from any other, which ends its backoff wait at once.
 */
package io.modelcache.source;
