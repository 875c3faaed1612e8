/**
 * JMH microbenchmarks of ModelCache's hot paths: cache hits, safetensors header parsing, hashing.
 *
 * <p>Compiled by the normal build (JMH's annotation processor generates the harness) but never run
 * by it: run them with {@code bench/jmh [JMH options] [regex]}. Each benchmark owns its state;
 * JMH runs benchmark methods on its own threads, so the state classes document their scope.
 */
package io.modelcache.bench.jmh;
