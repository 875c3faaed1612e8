/**
 * Handing live FUSE connections from one daemon process to the next, so that a restart, an upgrade
 * or a {@code kill -9} is not an unmount. Each mount's {@code /dev/fuse} descriptor is duplicated
 * into a keeper that outlives the daemon: a small {@linkplain HolderServer holder process} the daemon
 * starts on its own (own session, unix SOCK_SEQPACKET socket in the home, descriptors passed with
 * SCM_RIGHTS), or, under systemd, the unit's {@linkplain SystemdKeeper file descriptor store}. The
 * next daemon takes them back at start. A connection no daemon takes back within
 * {@code restart.grace} is aborted by the holder, so no reader waits forever.
 *
 * <p>Pure parts: {@link HolderProtocol} (the messages), {@link Claims} (the grace policy, on times
 * it is given) and {@link ListenFds} (LISTEN_FDS parsing). The system calls are in
 * {@code io.modelcache.os}. Threading: {@link HolderServer} is one thread with one poll loop;
 * {@link HolderClient} and the keepers serialize their calls and are safe to share; a call blocks for
 * one round trip to the holder (a platform-thread pin when made from a virtual thread: short).
 * {@link HolderKeeper#prepare} starts the holder on a short-lived daemon thread of its own, under the
 * keeper's lock, so a keep made meanwhile waits for that start.
 */
package io.modelcache.handover;
