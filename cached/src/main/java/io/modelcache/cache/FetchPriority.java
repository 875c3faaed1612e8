package io.modelcache.cache;

/**
 * Who is waiting for a fetch, most urgent first. A process blocked in a read ({@link #DEMAND})
 * always comes first; read-ahead of what the reader will touch next ({@link #READ_AHEAD}) next;
 * bringing the rest of a model in while nobody asks ({@link #FILL}) last.
 */
public enum FetchPriority {
  DEMAND,
  READ_AHEAD,
  FILL
}
