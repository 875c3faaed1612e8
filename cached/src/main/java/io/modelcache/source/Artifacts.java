package io.modelcache.source;

import io.modelcache.layout.OciLayout;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.registry.RegistryClient;
import io.modelcache.registry.RegistryOptions;
import java.io.IOException;

/** Opens the store a reference names: a registry repository or an {@code oci:} layout. */
public final class Artifacts {
  private Artifacts() {}

  public static ArtifactSource openSource(Reference ref, RegistryOptions options) throws IOException {
    return ref.isLayout() ? OciLayout.open(ref) : RegistryClient.open(ref, options);
  }

  public static ArtifactSink openSink(Reference ref, RegistryOptions options) throws IOException {
    return ref.isLayout() ? OciLayout.create(ref) : RegistryClient.open(ref, options);
  }
}
