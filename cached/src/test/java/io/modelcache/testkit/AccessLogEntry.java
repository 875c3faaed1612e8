package io.modelcache.testkit;

/**
 * One "response completed" line of the registry's own log: request method and URI (path and query),
 * response status, body bytes written, and the client's address (ip:port, shows connection reuse).
 */
public record AccessLogEntry(String method, String uri, int status, long written, String remoteAddr) {}
