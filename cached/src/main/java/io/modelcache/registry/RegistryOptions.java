package io.modelcache.registry;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;

/**
 * How a {@link RegistryClient} talks to registries. {@code plainHttp} null means automatic: loopback
 * registries use plain HTTP, all others HTTPS. {@code dockerConfig} null means
 * {@link DockerConfig#defaultPath()}. Blobs below {@code monolithicUploadLimit} are pushed in one PUT,
 * larger ones in {@code uploadChunkSize} PATCH chunks. {@code network} holds proxies and extra CAs.
 */
public record RegistryOptions(
    Boolean plainHttp,
    Path dockerConfig,
    Duration connectTimeout,
    Duration firstByteTimeout,
    Duration idleTimeout,
    int maxConnectionsPerHost,
    int maxAttempts,
    Duration baseBackoff,
    Duration maxBackoff,
    Sleeper sleeper,
    Clock clock,
    long monolithicUploadLimit,
    long uploadChunkSize,
    Network network) {

  public static final long DEFAULT_MONOLITHIC_LIMIT = 16L << 20;
  public static final long DEFAULT_CHUNK_SIZE = 16L << 20;

  public RegistryOptions {
    if (maxAttempts < 1 || maxConnectionsPerHost < 1 || uploadChunkSize < 1) {
      throw new IllegalArgumentException("maxAttempts, maxConnectionsPerHost and uploadChunkSize must be >= 1");
    }
    network = network == null ? Network.DIRECT : network;
  }

  public static RegistryOptions defaults() {
    return new RegistryOptions(null, null, Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofSeconds(30),
        8, 4, Duration.ofMillis(200), Duration.ofSeconds(5), Sleeper.SYSTEM, Clock.systemUTC(),
        DEFAULT_MONOLITHIC_LIMIT, DEFAULT_CHUNK_SIZE, Network.fromEnvironment());
  }

  /** The docker config file to read: the configured one or the default location. */
  public Path dockerConfigPath() {
    return dockerConfig != null ? dockerConfig : DockerConfig.defaultPath();
  }

  public Backoff backoff() {
    return new Backoff(baseBackoff, maxBackoff);
  }

  public RegistryOptions withPlainHttp(Boolean v) {
    return new RegistryOptions(v, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout, maxConnectionsPerHost,
        maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withDockerConfig(Path v) {
    return new RegistryOptions(plainHttp, v, connectTimeout, firstByteTimeout, idleTimeout, maxConnectionsPerHost,
        maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withTimeouts(Duration connect, Duration firstByte, Duration idle) {
    return new RegistryOptions(plainHttp, dockerConfig, connect, firstByte, idle, maxConnectionsPerHost,
        maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withMaxConnectionsPerHost(int v) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout, v,
        maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withRetries(int attempts, Duration base, Duration max) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout,
        maxConnectionsPerHost, attempts, base, max, sleeper, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withSleeper(Sleeper v) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout,
        maxConnectionsPerHost, maxAttempts, baseBackoff, maxBackoff, v, clock, monolithicUploadLimit, uploadChunkSize, network);
  }

  public RegistryOptions withClock(Clock v) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout,
        maxConnectionsPerHost, maxAttempts, baseBackoff, maxBackoff, sleeper, v, monolithicUploadLimit, uploadChunkSize, network);
  }

  /** Per-registry proxies and CA files, and the proxy environment. */
  public RegistryOptions withNetwork(Network v) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout,
        maxConnectionsPerHost, maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicUploadLimit,
        uploadChunkSize, v);
  }

  public RegistryOptions withUploadChunking(long monolithicLimit, long chunkSize) {
    return new RegistryOptions(plainHttp, dockerConfig, connectTimeout, firstByteTimeout, idleTimeout,
        maxConnectionsPerHost, maxAttempts, baseBackoff, maxBackoff, sleeper, clock, monolithicLimit, chunkSize, network);
  }
}
