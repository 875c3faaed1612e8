/**
 * Who may do what through the control socket: the pure decision ({@link AccessPolicy}) over a
 * {@link Caller} (from SO_PEERCRED and the caller's groups), the request and the facts about a
 * mountpoint ({@link Mountpoint}); no I/O here, so every rule is unit-tested. The daemon gathers the
 * facts (lstat, directory listing, /proc/PID/status) and asks. Values are immutable; thread-safe.
 */
package io.modelcache.access;
