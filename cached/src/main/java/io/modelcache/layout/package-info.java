/**
 * OCI image layout directories ({@code oci:PATH[:TAG]}) as an artifact source and sink. Blob and
 * index writes are atomic (temp file, fsync, rename); {@link io.modelcache.layout.OciLayout} is
 * thread-safe; index updates are also safe across processes (file lock).
 */
package io.modelcache.layout;
