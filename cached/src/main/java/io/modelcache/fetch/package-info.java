/**
 * Fetching ahead of readers (issue 5): the model's read plan from its safetensors headers and shard
 * index ({@link io.modelcache.fetch.ReadPlanner}, pure), near-sequential detection with an adaptive
 * window ({@link io.modelcache.fetch.SequentialDetector}, pure), learned access profiles
 * ({@link io.modelcache.fetch.AccessProfile}) and the per-mount driver that ties them to the chunk
 * cache ({@link io.modelcache.fetch.MountPrefetcher}): read-ahead at READ_AHEAD priority, background
 * fill at FILL priority ({@code BackgroundFill}), on-demand reads always first (the cache's scheduler
 * enforces it). {@code PlanLoader} loads a mount's headers and shard index into its plan;
 * {@code ProfileRecorder} learns a new profile from first touches.
 *
 * <p>Threading: the pure classes are not thread-safe (callers synchronize); {@code MountPrefetcher}
 * is thread-safe, its read hook never blocks, and its fill runs on one daemon thread per mount.
 */
package io.modelcache.fetch;
