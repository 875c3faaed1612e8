/**
 * The daemon's few calls into libc through the FFM API, kept in this one package: the peer
 * credentials of a control connection ({@code getsockopt(SO_PEERCRED)}) and a group's id
 * ({@code getgrnam}). Why FFM and not {@code jdk.net.ExtendedSocketOptions.SO_PEERCRED}: the JDK's
 * option gives user and group names, not the uid and gid, and no pid, which the daemon logs and
 * uses to read the caller's supplementary groups. Everything here is stateless and thread-safe
 * except {@link Libc#groupId}, which is synchronized (getgrnam returns a static buffer).
 */
package io.modelcache.os;
