package io.modelcache.testkit;

/** One "response completed" line of the registry's own log. */
public record AccessLogEntry(String method, String uri, int status, long written) {}
