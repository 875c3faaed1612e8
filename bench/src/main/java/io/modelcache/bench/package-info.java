/**
 * JMH microbenchmarks and the end-to-end benchmark harness. Never part of the default test build.
 */
package io.modelcache.bench;
