package io.modelcache.oci;

import java.util.Map;

/**
 * An OCI content descriptor. {@code annotations} is never null (empty when absent);
 * {@code artifactType} may be null.
 */
public record Descriptor(
    String mediaType, Digest digest, long size, Map<String, String> annotations, String artifactType) {
  public Descriptor {
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  public Descriptor(String mediaType, Digest digest, long size) {
    this(mediaType, digest, size, Map.of(), null);
  }

  public String annotation(String key) {
    return annotations.get(key);
  }
}
