/**
 * The daemon: owns the chunk cache, every FUSE mount and the control socket, persists the mount
 * table, and restores it at start. Mount and unmount are serialized by the daemon's lock; reads run
 * on FUSE threads without it.
 */
package io.modelcache.daemon;
