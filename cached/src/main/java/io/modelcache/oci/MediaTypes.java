package io.modelcache.oci;

/** Media types and annotation keys of OCI, ModelPack (current and legacy) and ORAS. */
public final class MediaTypes {
  private MediaTypes() {}

  public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
  public static final String DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
  public static final String OCI_EMPTY = "application/vnd.oci.empty.v1+json";

  /** The Accept header for manifest GET/HEAD. */
  public static final String MANIFEST_ACCEPT =
      String.join(", ", OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST);

  public static final String MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json";
  public static final String MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json";
  public static final String LEGACY_MODEL_ARTIFACT = "application/vnd.cnai.model.manifest.v1+json";
  public static final String LEGACY_MODEL_CONFIG = "application/vnd.cnai.model.config.v1+json";
  /** Prefixes of layer types: {@code <prefix><kind>.v1.<format>}. */
  public static final String MODEL_LAYER_PREFIX = "application/vnd.cncf.model.";
  public static final String LEGACY_MODEL_LAYER_PREFIX = "application/vnd.cnai.model.";

  public static final String ANNOTATION_FILEPATH = "org.cncf.model.filepath";
  public static final String ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json";
  public static final String ANNOTATION_UNTESTED = "org.cncf.model.file.mediatype.untested";
  public static final String LEGACY_ANNOTATION_FILEPATH = "org.cnai.model.filepath";
  public static final String LEGACY_ANNOTATION_FILE_METADATA = "org.cnai.model.file.metadata+json";
  public static final String LEGACY_ANNOTATION_UNTESTED = "org.cnai.model.file.mediatype.untested";
  public static final String ANNOTATION_TITLE = "org.opencontainers.image.title";
  public static final String ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
  public static final String ANNOTATION_ORAS_UNPACK = "io.deis.oras.content.unpack";
  public static final String ANNOTATION_MODELFILE = "org.cncf.modctl.modelfile";
}
