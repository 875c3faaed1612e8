package io.modelcache.modelpack;

import io.modelcache.oci.Descriptor;
import java.time.Instant;

/**
 * One file of a model artifact. {@code contentOffset} is where the file's bytes start: in the blob for
 * RAW (always 0) and TAR, in the decompressed stream for TAR_GZIP and TAR_ZSTD. {@code mode} holds
 * permission bits only (e.g. 0644).
 */
public record ModelFile(
    String path,
    Descriptor layer,
    LayerFormat format,
    long contentOffset,
    long size,
    int mode,
    int uid,
    int gid,
    Instant mtime,
    FileKind kind) {}
