/**
 * Chooses the artifact store for a reference (registry, registry behind mirrors, or OCI layout).
 * {@link io.modelcache.source.MirroredSource} is thread-safe; its mirror back-off state is guarded by
 * one small lock.
 */
package io.modelcache.source;
