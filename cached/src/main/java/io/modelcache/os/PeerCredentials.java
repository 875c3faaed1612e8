package io.modelcache.os;

/** What the kernel recorded about the process at the other end of a Unix socket when it connected. */
public record PeerCredentials(long pid, int uid, int gid) {}
