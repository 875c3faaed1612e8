package io.modelcache.it;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * {@link LazyMountIT}'s user-facing reads on the jnr transport ({@code fuse.transport: jnr}): every
 * file's sha256, mmap of each shard, 1,000 unaligned preads, xattrs, statfs, EROFS, {@code nobody}
 * reading with allow_other and the listing; and EIO for an uncached read while the registry is
 * down, exact bytes once it is back. The other tests do not depend on the transport (the daemon's
 * mount table, the cache budget, single flight, restart) and run on the kernel transport only, to
 * keep the suite short.
 */
class LazyMountJnrIT extends LazyMountIT {
  private static final String KERNEL_ONLY = "transport-independent: runs in LazyMountIT (kernel transport)";

  @Override
  String transport() {
    return "jnr";
  }

  @Override
  @Test
  @Disabled(KERNEL_ONLY)
  void twoMountsOfOneModelFetchEachBlobOnce() {}

  @Override
  @Test
  @Disabled(KERNEL_ONLY)
  void aCacheSmallerThanTheModelStaysWithinBudgetAndReadsCorrectly() {}

  @Override
  @Test
  @Disabled(KERNEL_ONLY)
  void badInputFailsWithOneClearLine() {}

  @Override
  @Test
  @Disabled(KERNEL_ONLY)
  void aCleanRestartKeepsTheCacheAndRemountsWithoutRefetching() {}
}
