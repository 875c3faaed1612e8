package io.modelcache.fetch;

import io.modelcache.cache.BlobHandle;
import io.modelcache.safetensors.SafetensorsFormatException;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mount's {@link ReadPlan}, built once from the safetensors headers and the shard index. Headers are
 * loaded on their own pool (one thread per shard, up to {@link MountPrefetcher#HEADER_THREADS}), so
 * the time to every header is one fetch whatever the shard count (within the registry connection
 * limit); the shard index is read on the read-ahead pool. A header that is malformed, or cannot be
 * read, completes with null: that file is served as plain bytes and read ahead in file order.
 *
 * <p>Thread-safe; {@link #close()} stops both pools (a read cut by it is not worth a line).
 */
final class PlanLoader {
  /** The lines keep the logger they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(MountPrefetcher.class);
  private static final long MAX_INDEX = 64L << 20;

  private final Map<String, BlobHandle> files;
  private final BooleanSupplier closed;
  private final ExecutorService pool;
  private final ExecutorService headerPool;
  private final ConcurrentHashMap<String, CompletableFuture<SafetensorsHeader>> headers = new ConcurrentHashMap<>();
  private volatile CompletableFuture<ReadPlan> plan;

  /**
   * @param files the mount's files by relative path, with their (open) cache handles
   * @param closed whether the mount is being closed (a read failing then is not worth a line)
   */
  PlanLoader(Map<String, BlobHandle> files, BooleanSupplier closed) {
    this.files = files;
    this.closed = closed;
    ThreadPoolExecutor p = new ThreadPoolExecutor(4, 4, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "modelcache-readahead-" + MountPrefetcher.THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    p.allowCoreThreadTimeOut(true);
    this.pool = p;
    int shards = (int) Math.max(1, files.keySet().stream().filter(ReadPlanner::isSafetensors).count());
    int hn = Math.min(MountPrefetcher.HEADER_THREADS, shards);
    ThreadPoolExecutor hp = new ThreadPoolExecutor(hn, hn, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "modelcache-header-" + MountPrefetcher.THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    hp.allowCoreThreadTimeOut(true);
    this.headerPool = hp;
  }

  /** The plan, once every shard's header is in (null before). */
  ReadPlan planNow() {
    CompletableFuture<ReadPlan> p = plan;
    return p != null && p.isDone() && !p.isCompletedExceptionally() ? p.join() : null;
  }

  /** Starts building the plan (idempotent): the shard index and every safetensors header. */
  CompletableFuture<ReadPlan> plan() {
    CompletableFuture<ReadPlan> p = plan;
    if (p != null) {
      return p;
    }
    synchronized (this) {
      if (plan == null) {
        plan = buildPlan();
      }
      return plan;
    }
  }

  private CompletableFuture<ReadPlan> buildPlan() {
    List<CompletableFuture<SafetensorsHeader>> all = new ArrayList<>();
    List<String> paths = new ArrayList<>(files.keySet());
    paths.sort(null);
    for (String path : paths) {
      if (ReadPlanner.isSafetensors(path)) {
        all.add(header(path));
      }
    }
    CompletableFuture<Map<String, String>> index;
    try {
      index = CompletableFuture.supplyAsync(this::weightMap, pool);
    } catch (java.util.concurrent.RejectedExecutionException closedPool) {
      index = CompletableFuture.completedFuture(Map.of());
    }
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenCombine(index, (v, wm) -> {
      List<ReadPlanner.FileInfo> infos = new ArrayList<>();
      for (String path : paths) {
        BlobHandle h = files.get(path);
        SafetensorsHeader hd = ReadPlanner.isSafetensors(path) ? header(path).join() : null;
        infos.add(new ReadPlanner.FileInfo(path, h.spec().contentLength(), hd));
      }
      return ReadPlanner.plan(infos, wm);
    });
  }

  /** The header of a safetensors file, fetched once; completes with null when it is malformed. */
  CompletableFuture<SafetensorsHeader> header(String path) {
    return headers.computeIfAbsent(path, p -> {
      try {
        return CompletableFuture.supplyAsync(() -> loadHeader(p), headerPool);
      } catch (java.util.concurrent.RejectedExecutionException closedPool) {
        return CompletableFuture.completedFuture(null);
      }
    });
  }

  /** The header of {@code path} if it is in already (null while loading, never asked for, or malformed). */
  SafetensorsHeader headerNow(String path) {
    CompletableFuture<SafetensorsHeader> hf = headers.get(path);
    return hf == null ? null : hf.getNow(null);
  }

  private SafetensorsHeader loadHeader(String path) {
    BlobHandle h = files.get(path);
    long size = h.spec().contentLength();
    try {
      ByteBuffer first = ByteBuffer.allocate(8);
      if (size < 8 || h.read(0, first) < 8) {
        return null;
      }
      long n = SafetensorsHeader.readHeaderLength(first.array());
      if (n < 0 || n >= SafetensorsHeader.MAX_HEADER || 8 + n > size) {
        LOG.info("{}: header length {} is not valid; serving it as plain bytes", path, Long.toUnsignedString(n));
        return null;
      }
      ByteBuffer all = ByteBuffer.allocate((int) (8 + n));
      while (all.hasRemaining()) {
        if (h.read(all.position(), all) <= 0) {
          return null;
        }
      }
      return SafetensorsHeader.parse(all.flip(), size);
    } catch (SafetensorsFormatException e) {
      LOG.info("{}: malformed safetensors header ({}); serving it as plain bytes", path, e.getMessage());
      return null;
    } catch (IOException | RuntimeException e) {
      if (tornDown(e)) {
        return null; // the mount is being torn down (it failed or was unmounted): nothing to plan for
      }
      LOG.info("{}: cannot read the safetensors header ({}); read-ahead falls back to file order", path, e.toString());
      return null;
    }
  }

  /**
   * A read that failed because the mount is being closed (a mount that failed, or an unmount): closed
   * first, then an interrupted read (not a socket timeout) or a closed handle. Not worth a line.
   */
  private boolean tornDown(Exception e) {
    return closed.getAsBoolean()
        || (e instanceof java.io.InterruptedIOException && !(e instanceof java.net.SocketTimeoutException));
  }

  private Map<String, String> weightMap() {
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, BlobHandle> e : files.entrySet()) {
      long size = e.getValue().spec().contentLength();
      if (!ReadPlanner.isShardIndex(e.getKey()) || size > MAX_INDEX) {
        continue;
      }
      try {
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && e.getValue().read(b.position(), b) > 0) {
          // read it all
        }
        out.putAll(ReadPlanner.parseIndex(b.array()));
      } catch (IOException | RuntimeException ex) {
        if (tornDown(ex)) {
          return out;
        }
        LOG.info("{}: cannot read the shard index ({})", e.getKey(), ex.toString());
      }
    }
    return out;
  }

  /** Stops both pools; reads they are running are interrupted. */
  void close() {
    pool.shutdownNow();
    headerPool.shutdownNow();
  }
}
