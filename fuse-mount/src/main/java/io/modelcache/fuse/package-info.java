/**
 * A generic read-only FUSE filesystem over {@link io.modelcache.fuse.ReadOnlyTree}, with two
 * transports behind {@link io.modelcache.fuse.FuseTransport}; it knows nothing of OCI. A tree may
 * offer a {@link io.modelcache.fuse.BackingFile} for an open file (its content as a plain file),
 * which a transport that speaks passthrough can hand to the kernel; the jnr transport ignores it.
 *
 * <ul>
 *   <li>{@code kernel} ({@link io.modelcache.fuse.KernelTransport}): the FUSE kernel protocol spoken
 *       on /dev/fuse from Java through the FFM API, no libfuse. mount(2) with {@code fd=N} (root's,
 *       or a user's through {@link io.modelcache.fuse.OwnedMount} with her user_id), 1 MiB
 *       requests, one bounded set of serving threads for all mounts
 *       ({@link io.modelcache.fuse.KernelServer}). The protocol itself is pure code in
 *       {@code io.modelcache.fuse.kernel}; syscalls and struct layouts in
 *       {@code io.modelcache.fuse.kernel.sys}.
 *   <li>{@code jnr} ({@link io.modelcache.fuse.JnrTransport}): libfuse2 through jnr-fuse, the only
 *       classes here that import it; 128 KiB requests, 16 threads per mount.
 * </ul>
 *
 * <p>Threading: requests arrive on serving threads (the kernel transport's shared workers, or
 * libfuse's per-mount workers); every request of either transport goes through one
 * {@link io.modelcache.fuse.CallWrapper} that times and counts it, logs slow calls and maps
 * exceptions to errno, so nothing is thrown into native code. Serving threads are platform
 * threads: they block in native calls. Never mmap a file of a mount from the JVM that serves it: a
 * thread faulting on the mapping blocks safepoints while the worker that would serve the fault
 * waits for one.
 */
package io.modelcache.fuse;
