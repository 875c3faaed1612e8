package io.modelcache.modelpack;

/** How a file's bytes are stored in its layer blob. */
public enum LayerFormat {
  /** The blob is the file. */
  RAW,
  /** The file is an entry of an uncompressed tar; its bytes are a range of the blob. */
  TAR,
  /** A gzip-compressed tar: offsets are in the decompressed stream. */
  TAR_GZIP,
  /** A zstd-compressed tar: offsets are in the decompressed stream. */
  TAR_ZSTD;

  public boolean isCompressed() {
    return this == TAR_GZIP || this == TAR_ZSTD;
  }

  /** The format of a ModelPack layer media type by its suffix ({@code .raw}, {@code .tar}, ...); RAW otherwise. */
  public static LayerFormat ofMediaType(String mediaType) {
    String m = mediaType == null ? "" : mediaType;
    if (m.endsWith("tar+gzip") || m.endsWith("tar.gzip") || m.endsWith("tar+gz")) {
      return TAR_GZIP;
    }
    if (m.endsWith("tar+zstd") || m.endsWith("tar.zstd")) {
      return TAR_ZSTD;
    }
    if (m.endsWith(".tar")) {
      return TAR;
    }
    return RAW;
  }

  /** The media type suffix written for this format. */
  public String suffix() {
    return switch (this) {
      case RAW -> "raw";
      case TAR -> "tar";
      case TAR_GZIP -> "tar+gzip";
      case TAR_ZSTD -> "tar+zstd";
    };
  }
}
