/**
 * Test support shared by cached, cli and bench tests: a real Debian {@code docker-registry} child
 * process on 127.0.0.1 ({@link io.modelcache.testkit.RegistryHarness}) with an access log parsed from
 * the registry's own JSON log. Harness methods are thread-safe; each harness owns one child process.
 */
package io.modelcache.testkit;
