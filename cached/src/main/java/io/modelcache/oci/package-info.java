/**
 * OCI value types (digests, descriptors, references, media types) and the two ports every
 * artifact store implements: {@link io.modelcache.oci.ArtifactSource} for reading and
 * {@link io.modelcache.oci.ArtifactSink} for writing. Value types are immutable; the ports'
 * implementations are thread-safe.
 */
package io.modelcache.oci;
