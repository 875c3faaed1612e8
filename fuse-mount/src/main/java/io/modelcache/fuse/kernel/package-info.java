/**
 * The FUSE kernel protocol as pure code: {@link io.modelcache.fuse.kernel.KernelFs} turns one
 * request's bytes into its reply's bytes over a {@link io.modelcache.fuse.ReadOnlyTree} (lookups,
 * attributes, opens, reads, directories, statfs, xattrs; EROFS for writes, ENOSYS for the rest),
 * {@code InitReply} negotiates INIT, {@code Wire} reads and writes the fields, {@link
 * io.modelcache.fuse.kernel.Opcodes} names the operations, {@link
 * io.modelcache.fuse.kernel.NodeTable} derives node ids from the tree,
 * and {@link io.modelcache.fuse.kernel.OpenHook} is where an open may be answered with a
 * passthrough backing id instead of the daemon path. {@link io.modelcache.fuse.kernel.ReplyData}
 * carries a READ reply's data when it is not in the reply buffer (a range of a {@link
 * io.modelcache.fuse.kernel.SplicedFile} that {@link io.modelcache.fuse.kernel.SpliceReply} splices
 * into the device, or memory the reader lent) and sends it. Struct layouts and syscalls live in
 * {@code io.modelcache.fuse.kernel.sys}; the serving threads and mounts in {@code io.modelcache.fuse}
 * ({@code KernelTransport}).
 *
 * <p>Threading: no threads here. {@code KernelFs.handle} is thread-safe and is called from every
 * serving thread with that thread's own buffers; it blocks only as long as the tree's read does.
 * A {@code ReplyData} and a {@code SpliceReply} (its pipe) belong to one serving thread; a {@code
 * SplicedFile} is shared by the reads of one open and counts the ranges in flight.
 */
package io.modelcache.fuse.kernel;
