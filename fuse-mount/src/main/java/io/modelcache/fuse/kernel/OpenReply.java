package io.modelcache.fuse.kernel;

/**
 * The answer to an OPEN: {@code struct fuse_open_out}.
 *
 * @param fh the file handle the kernel sends back with every READ and the RELEASE
 * @param openFlags FOPEN_* flags (KEEP_CACHE for the daemon path; PASSTHROUGH with a backing id)
 * @param backingId the id FUSE_DEV_IOC_BACKING_OPEN returned, or 0
 */
public record OpenReply(long fh, int openFlags, int backingId) {}
