/**
 * Test support shared by cached, cli and bench tests: a real Debian {@code docker-registry} child
 * process on 127.0.0.1 ({@link io.modelcache.testkit.RegistryHarness}) with an access log parsed from
 * the registry's own JSON log, and a fault-injecting HTTP proxy in front of it
 * ({@link io.modelcache.testkit.FaultProxy}) driven by a seeded, deterministic
 * {@link io.modelcache.testkit.FaultPlan} (resets, 503s, flipped bytes, truncations, slow starts,
 * outages). Harness methods are thread-safe; each harness owns one child process; the proxy runs one
 * thread per connection.
 */
package io.modelcache.testkit;
