package io.modelcache.modelpack;

/**
 * Pull progress, reported as bytes arrive and when a file is placed: the layer being transferred,
 * its bytes so far of its size, and the total over all layers (a layer shared by files counts once).
 */
public record Progress(String path, long layerDone, long layerSize, long totalDone, long totalBytes, boolean placed) {}
