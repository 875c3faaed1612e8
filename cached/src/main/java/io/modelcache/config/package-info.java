/** Daemon and CLI configuration values and their parsing. Stateless, thread-safe. */
package io.modelcache.config;
