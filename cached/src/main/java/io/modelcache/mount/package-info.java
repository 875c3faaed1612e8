/**
 * The mount table and what each mount shows: a model artifact as a {@link
 * io.modelcache.fuse.ReadOnlyTree}, each file backed by a blob handle of the shared chunk cache.
 * Trees are immutable after mount (a mount pins its manifest digest); reads are thread-safe.
 */
package io.modelcache.mount;
