package io.modelcache.daemon;

/**
 * A mount as persisted in the mount table: what was asked for, the manifest digest it resolved to
 * (a remount after a restart uses this digest, never the tag), and where.
 */
public record MountRecord(String reference, String digest, String mountpoint, Boolean plainHttp) {}
