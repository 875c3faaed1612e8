/**
 * A generic read-only FUSE filesystem over {@link io.modelcache.fuse.ReadOnlyTree}. This is the only
 * package in ModelCache that imports the FUSE binding (jnr-fuse); it knows nothing of OCI.
 *
 * <p>Threading: FUSE callbacks arrive on libfuse worker threads; every callback goes through one
 * wrapper that times and counts it, logs slow calls and maps exceptions to errno.
 */
package io.modelcache.fuse;
