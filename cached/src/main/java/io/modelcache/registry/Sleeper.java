package io.modelcache.registry;

import java.time.Duration;

/** Sleeps between retries; injectable so retry tests are deterministic. */
@FunctionalInterface
public interface Sleeper {
  void sleep(Duration d) throws InterruptedException;

  Sleeper SYSTEM = d -> Thread.sleep(d.toMillis());
}
