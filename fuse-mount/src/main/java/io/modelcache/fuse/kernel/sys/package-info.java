/**
 * The native edge of the kernel-protocol FUSE transport: every FFM downcall ({@link
 * io.modelcache.fuse.kernel.sys.Sys}: open, close, mount(2), umount2, read, write, writev, ioctl,
 * epoll; {@link io.modelcache.fuse.kernel.sys.Fusermount}: socketpair, posix_spawnp, recvmsg of an
 * SCM_RIGHTS descriptor, waitpid, for mounts made by fusermount3) and every struct layout ({@link io.modelcache.fuse.kernel.sys.FuseAbi}: the structs,
 * opcodes and flags of the kernel's {@code include/uapi/linux/fuse.h}, protocol 7.40+, little or
 * native endian as the kernel writes them). Nothing else in ModelCache's kernel transport touches
 * {@code java.lang.foreign} linkage.
 *
 * <p>Threading: stateless; every call is safe from any thread. The errno of a failed call is
 * captured with {@code Linker.Option.captureCallState} into a per-thread segment and returned as a
 * negative number, so no call needs {@code errno} afterwards. Calls that block (read on a blocking
 * descriptor, epoll_wait) must run on platform threads: a virtual thread in a downcall pins its
 * carrier.
 */
package io.modelcache.fuse.kernel.sys;
