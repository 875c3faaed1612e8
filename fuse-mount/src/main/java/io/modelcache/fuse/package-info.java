/**
 * A generic read-only FUSE filesystem over {@link io.modelcache.fuse.ReadOnlyTree}. This is the only
 * package in ModelCache that imports the FUSE binding (jnr-fuse, libfuse2); it knows nothing of OCI.
 * Root's mounts are made by libfuse ({@code fuse_setup}); a mount that belongs to another user is
 * made here with mount(2) ({@link io.modelcache.fuse.OwnedMount}: her user_id, nosuid, nodev) and
 * then served by libfuse the same way.
 *
 * <p>Threading: FUSE callbacks arrive on libfuse worker threads (multithreaded loop, one daemon
 * thread per mount runs it); every callback goes through one wrapper that times and counts it, logs
 * slow calls and maps exceptions to errno, so nothing is thrown into native code. Never mmap a file
 * of a mount from the JVM that serves it: a thread faulting on the mapping blocks safepoints while
 * the worker that would serve the fault waits for one.
 */
package io.modelcache.fuse;
