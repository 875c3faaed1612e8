package io.modelcache.oci;

/**
 * A manifest or index exactly as the source served it. {@code digest} is the sha256 of
 * {@code bytes}; when the manifest was requested by digest, the source has checked they match.
 */
public record FetchedManifest(byte[] bytes, String mediaType, Digest digest) {}
