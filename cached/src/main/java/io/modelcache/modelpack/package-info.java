/**
 * ModelPack (CNCF model-spec, current {@code vnd.cncf} and legacy {@code vnd.cnai}) and generic ORAS
 * artifacts: reading a manifest into a file list ({@link io.modelcache.modelpack.ModelReader}),
 * packing a directory ({@link io.modelcache.modelpack.ModelPusher}) and downloading every file
 * ({@link io.modelcache.modelpack.ModelPuller}). Value types are immutable records; the reader and
 * parsers are stateless and thread-safe; the pusher and puller run their blob transfers on an
 * internal fixed pool sized by the caller and return only when every task has finished.
 */
package io.modelcache.modelpack;
