package io.modelcache.error;

import java.io.IOException;

/**
 * The one exception type that carries a user-facing, one-line message. {@link Kind} decides the CLI
 * exit code and, at the FUSE edge, the errno. Messages name the thing (reference, layer, path) and
 * the cause, and never contain credentials.
 */
public class ModelCacheException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong, coarse enough to map to exit codes and errno in one place. */
  public enum Kind {
    /** Bad command-line or config input. */
    USAGE(2),
    /** Unknown repository, tag, digest or file. */
    NOT_FOUND(3),
    /** Credentials missing or refused. */
    AUTH(4),
    /** Registry cannot be reached (DNS, connect, timeout). */
    UNREACHABLE(5),
    /** Not a ModelPack/ORAS model artifact, or a malformed manifest/config. */
    INVALID_ARTIFACT(6),
    /** A file path in the artifact is unsafe (absolute, .., duplicate, ...). */
    UNSAFE_PATH(7),
    /** Bytes did not match their digest. */
    DIGEST_MISMATCH(8),
    /** The daemon is not running or refused the request. */
    DAEMON(9),
    /** Local I/O (disk full, permissions) or any other failure. */
    IO(10),
    /** A mount cannot be made: FUSE is missing or unusable on this node (device, library, mount(2)). */
    FUSE_UNAVAILABLE(11),
    /** The trust policy refused the model: no signature, none by a trusted key, or another digest signed. */
    UNTRUSTED(12),
    /** The daemon refused the caller: not allowed to do this (not root, not the owner, not in the group). */
    DENIED(13);

    public final int exitCode;

    Kind(int exitCode) {
      this.exitCode = exitCode;
    }
  }

  private final Kind kind;

  public ModelCacheException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public ModelCacheException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }

  public static ModelCacheException notFound(String message) {
    return new ModelCacheException(Kind.NOT_FOUND, message);
  }

  public static ModelCacheException invalid(String message) {
    return new ModelCacheException(Kind.INVALID_ARTIFACT, message);
  }

  public static ModelCacheException unsafePath(String message) {
    return new ModelCacheException(Kind.UNSAFE_PATH, message);
  }

  public static ModelCacheException digestMismatch(String message) {
    return new ModelCacheException(Kind.DIGEST_MISMATCH, message);
  }
}
