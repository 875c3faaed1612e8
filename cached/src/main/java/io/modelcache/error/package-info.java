/**
 * The single user-facing error type, {@link io.modelcache.error.ModelCacheException}, and its kinds.
 * Exit codes (CLI) and errno (FUSE) are derived from the kind in one place each. Immutable; thread-safe.
 */
package io.modelcache.error;
