package io.modelcache.modelpack;

/** What a file is, as ModelPack layer kinds name it. */
public enum FileKind {
  WEIGHT("weight"),
  WEIGHT_CONFIG("weight.config"),
  DOC("doc"),
  CODE("code"),
  DATASET("dataset"),
  OTHER(null);

  /** The {@code <kind>} part of {@code application/vnd.cncf.model.<kind>.v1.<fmt>}; null for OTHER. */
  public final String mediaTypeKind;

  FileKind(String mediaTypeKind) {
    this.mediaTypeKind = mediaTypeKind;
  }

  /** The kind named by a ModelPack layer media type (current or legacy prefix); OTHER if none. */
  public static FileKind ofMediaType(String mediaType) {
    if (mediaType == null) {
      return OTHER;
    }
    String rest;
    if (mediaType.startsWith(io.modelcache.oci.MediaTypes.MODEL_LAYER_PREFIX)) {
      rest = mediaType.substring(io.modelcache.oci.MediaTypes.MODEL_LAYER_PREFIX.length());
    } else if (mediaType.startsWith(io.modelcache.oci.MediaTypes.LEGACY_MODEL_LAYER_PREFIX)) {
      rest = mediaType.substring(io.modelcache.oci.MediaTypes.LEGACY_MODEL_LAYER_PREFIX.length());
    } else {
      return OTHER;
    }
    int v = rest.indexOf(".v1.");
    String kind = v < 0 ? rest : rest.substring(0, v);
    for (FileKind k : values()) {
      if (kind.equals(k.mediaTypeKind)) {
        return k;
      }
    }
    return OTHER;
  }

  /** The layer media type for this kind and format (OTHER is packed as code). */
  public String layerMediaType(LayerFormat format) {
    String k = mediaTypeKind == null ? CODE.mediaTypeKind : mediaTypeKind;
    return io.modelcache.oci.MediaTypes.MODEL_LAYER_PREFIX + k + ".v1." + format.suffix();
  }
}
