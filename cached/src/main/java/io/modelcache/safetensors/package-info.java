/**
 * safetensors: a pure header parser with the sanity limits of the format notes, the loader-order plan
 * that drives read-ahead, and a deterministic synthetic model generator for tests, demos and
 * benchmarks. Parsers are stateless and thread-safe; the generator writes from the calling thread.
 */
package io.modelcache.safetensors;
