package io.modelcache.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class SettingsTest {
  private static final Settings BASE = Settings.defaults(Path.of("/var/lib/modelcache"));

  private static Settings parse(String yaml) throws ModelCacheException {
    return BASE.apply(YamlTree.parse("config.yaml", yaml));
  }

  @Test
  void everyKeyIsRead() throws Exception {
    Settings s = parse("""
        home: /srv/mc
        cache:
          size: 500G
          chunkSize: 8M
        fetch:
          timeout: 45s
          concurrency: 16
        readAhead:
          kernelKb: 512
          prefetch: false
          backgroundFill: off
        mounts:
          allowOther: false
          dir: /etc/modelcache/mounts.d
        metrics:
          address: 0.0.0.0:9500
        credentials: /etc/modelcache/auth.json
        registries:
          - host: registry.example.com
            mirrors: [mirror-a.local:5000, mirror-b.local:5000]
          - host: 10.0.0.5:5000
            plainHttp: true
          - host: 127.0.0.1:5000
            proxy: 127.0.0.1:4001
            ca: /etc/modelcache/ca.pem
        """);
    assertEquals(Path.of("/srv/mc"), s.home());
    assertEquals(500L << 30, s.cacheSizeBytes());
    assertEquals(8 << 20, s.chunkSizeBytes());
    assertEquals(Duration.ofSeconds(45), s.fetchTimeout());
    assertEquals(16, s.fetchConcurrency());
    assertEquals(512, s.readAheadKb());
    assertFalse(s.prefetch());
    assertFalse(s.backgroundFill());
    assertFalse(s.allowOther());
    assertEquals(Path.of("/etc/modelcache/mounts.d"), s.effectiveMountsDir());
    assertEquals("0.0.0.0:9500", s.metricsAddress());
    assertEquals(Path.of("/etc/modelcache/auth.json"), s.credentials());
    assertEquals(List.of(
        new RegistrySettings("registry.example.com", List.of("mirror-a.local:5000", "mirror-b.local:5000"), null),
        new RegistrySettings("10.0.0.5:5000", List.of(), true),
        new RegistrySettings("127.0.0.1:5000", List.of(), null, "http://127.0.0.1:4001",
            Path.of("/etc/modelcache/ca.pem"))), s.registries());
  }

  @Test
  void controlGroupsAreReadAndChecked() throws Exception {
    Settings s = parse("control:\n  group: modelcache\n  adminGroup: mc-admin\n");
    assertEquals("modelcache", s.controlGroup());
    assertEquals("mc-admin", s.controlAdminGroup());
    assertEquals(null, BASE.controlGroup());
    assertEquals(null, BASE.controlAdminGroup());
    assertEquals("config.yaml line 2: control.group: expected a group name, got 'two words'",
        assertThrows(ModelCacheException.class, () -> parse("control:\n  group: two words\n")).getMessage());
  }

  @Test
  void unindexedVerificationIsLazyOrStrict() throws Exception {
    assertEquals("lazy", BASE.unindexedVerification());
    assertFalse(BASE.strictUnindexed());
    Settings s = parse("verify:\n  unindexed: strict\n");
    assertEquals("strict", s.unindexedVerification());
    assertTrue(s.strictUnindexed());
    assertFalse(parse("verify: {unindexed: lazy}\n").strictUnindexed());
    assertEquals("config.yaml line 2: verify.unindexed: expected lazy or strict, got 'paranoid'",
        assertThrows(ModelCacheException.class, () -> parse("verify:\n  unindexed: paranoid\n")).getMessage());
  }

  @Test
  void fuseTransportIsKernelByDefaultAndChecked() throws Exception {
    assertEquals("kernel", BASE.fuseTransport());
    assertEquals("jnr", parse("fuse:\n  transport: jnr\n").fuseTransport());
    assertEquals("kernel", parse("fuse:\n  transport: kernel\n").fuseTransport());
    assertEquals("config.yaml line 2: fuse.transport: expected kernel or jnr, got 'libfuse'",
        assertThrows(ModelCacheException.class, () -> parse("fuse:\n  transport: libfuse\n")).getMessage());
  }

  @Test
  void emptyFileKeepsDefaults() throws Exception {
    assertEquals(BASE, parse(""));
    assertEquals(Path.of("/var/lib/modelcache/mounts.d"), BASE.effectiveMountsDir());
  }

  @Test
  void unknownKeyNamesKeyAndLine() {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: 1G\n  sise: 2G\n"));
    assertEquals("config.yaml line 3: cache.sise: unknown key", e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
  }

  @Test
  void aKeyGivenTwiceIsRefusedNotTheLastOneWins() {
    assertEquals("config.yaml line 3: cache: given twice (first on line 1)",
        assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: 1G\ncache:\n  size: 2G\n")).getMessage());
    assertEquals("config.yaml line 3: cache.size: given twice (first on line 2)",
        assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: 1G\n  size: 2G\n")).getMessage());
  }

  @Test
  void kernelReadAheadIsBoundedByAGibibyte() throws Exception {
    assertEquals(1 << 20, parse("readAhead:\n  kernelKb: 1048576\n").readAheadKb());
    assertEquals("config.yaml line 2: readAhead.kernelKb: read-ahead must be 1 to 1048576 KiB (1 GiB), got 99999999",
        assertThrows(ModelCacheException.class, () -> parse("readAhead:\n  kernelKb: 99999999\n")).getMessage());
  }

  @Test
  void pathsInTheFileMustBeAbsolute() {
    assertEquals("config.yaml line 1: home: '5' is not an absolute path (a relative one would depend on the daemon's working directory)",
        assertThrows(ModelCacheException.class, () -> parse("home: 5\n")).getMessage());
    assertEquals("config.yaml line 2: mounts.dir: 'mounts.d' is not an absolute path (a relative one would depend on the daemon's working directory)",
        assertThrows(ModelCacheException.class, () -> parse("mounts:\n  dir: mounts.d\n")).getMessage());
  }

  @Test
  void aFetchTimeoutOfZeroIsRefused() throws Exception {
    assertEquals("config.yaml line 2: fetch.timeout: invalid duration '0s': must be longer than 0 (e.g. 30s)",
        assertThrows(ModelCacheException.class, () -> parse("fetch:\n  timeout: 0s\n")).getMessage());
    assertEquals(Duration.ofSeconds(45), parse("fetch:\n  timeout: 45\n").fetchTimeout());
  }

  @Test
  void aCacheOfZeroBytesIsRefused() {
    assertEquals("config.yaml line 2: cache.size: the cache size must be above 0",
        assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: 0\n")).getMessage());
  }

  @Test
  void aKnownSectionOfTheWrongShapeSaysWhatItExpected() {
    assertEquals("config.yaml line 1: cache: expected a mapping of cache.chunkSize, cache.size",
        assertThrows(ModelCacheException.class, () -> parse("cache: 5\n")).getMessage());
    assertEquals("config.yaml line 2: registries.host: registries must be a list of entries (- host: ...)",
        assertThrows(ModelCacheException.class, () -> parse("registries:\n  host: x\n")).getMessage());
    assertEquals("config.yaml line 1: trust: trust must be a list of rules (- scope: ...)",
        assertThrows(ModelCacheException.class, () -> parse("trust: yes\n")).getMessage());
  }

  @Test
  void aFileThatIsNotUtf8TextIsOneUsageLine(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    Path f = dir.resolve("binary.yaml");
    java.nio.file.Files.write(f, new byte[] {0, (byte) 0xff, (byte) 0xfe});
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> Settings.load(f, true, BASE));
    assertEquals("config file " + f + ": not UTF-8 text", e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
  }

  @Test
  void badValuesNameKeyAndLine() {
    assertEquals("config.yaml line 2: cache.size: invalid size 'lots' (expected a number of bytes with an optional K, M, G or T suffix)",
        assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: lots\n")).getMessage());
    assertEquals("config.yaml line 1: cache.chunkSize: chunk size '3M' must be a power of two from 64K to 64M",
        assertThrows(ModelCacheException.class, () -> parse("cache: {chunkSize: 3M}\n")).getMessage());
    assertEquals("config.yaml line 2: mounts.allowOther: expected true or false, got 'maybe'",
        assertThrows(ModelCacheException.class, () -> parse("mounts:\n  allowOther: maybe\n")).getMessage());
    assertEquals("config.yaml line 1: metrics.address: expected host:port or off, got 'nowhere'",
        assertThrows(ModelCacheException.class, () -> parse("metrics: {address: nowhere}\n")).getMessage());
    assertEquals("config.yaml line 2: registries.0.plainHttp: registry entry without a host",
        assertThrows(ModelCacheException.class, () -> parse("registries:\n  - plainHttp: true\n")).getMessage());
    assertEquals("config.yaml line 2: registries.0.ca: registry entry without a host",
        assertThrows(ModelCacheException.class, () -> parse("registries:\n  - ca: /x.pem\n")).getMessage());
    assertEquals("config.yaml line 3: registries.0.proxy: 'socks5://127.0.0.1:1080': only http:// proxies are supported",
        assertThrows(ModelCacheException.class,
            () -> parse("registries:\n  - host: r.example.com\n    proxy: socks5://127.0.0.1:1080\n")).getMessage());
    assertEquals("config.yaml line 3: registries.0.proxy: 'http://***@p.example.com/x': a proxy URL has no path",
        assertThrows(ModelCacheException.class,
            () -> parse("registries:\n  - host: r.example.com\n    proxy: http://u:secret@p.example.com/x\n")).getMessage());
  }

  @Test
  void brokenYamlNamesTheLine() {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse("cache:\n  size: [1G\n"));
    assertEquals(true, e.getMessage().startsWith("config.yaml line "), e.getMessage());
    assertEquals(true, e.getMessage().contains("not valid YAML"), e.getMessage());
  }

  @Test
  void restartGraceDefaultsToFiveMinutesAndTakesADuration() throws Exception {
    assertEquals(Duration.ofMinutes(5), BASE.restartGrace());
    assertEquals(Duration.ofSeconds(90), parse("restart:\n  grace: 90s\n").restartGrace());
    assertEquals(Duration.ofMinutes(2), parse("restart:\n  grace: 2m\n").restartGrace());
    assertTrue(BASE.restartKeepMounts(), "a stop is not an unmount (kernel transport)");
    assertEquals(false, parse("restart:\n  keepMounts: false\n").restartKeepMounts());
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse("restart:\n  grace: soon\n"));
    assertEquals("config.yaml line 2: restart.grace: invalid duration 'soon' (expected e.g. 500ms, 30s, 2m)", e.getMessage());
  }

  @Test
  void fusePassthroughDefaultsToOnAndTakesABoolean() throws Exception {
    assertEquals(true, BASE.fusePassthrough());
    assertFalse(parse("fuse:\n  passthrough: false\n").fusePassthrough());
    assertEquals(true, parse("fuse: {passthrough: true}\n").fusePassthrough());
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse("fuse:\n  passthrough: sometimes\n"));
    assertEquals("config.yaml line 2: fuse.passthrough: expected true or false, got 'sometimes'", e.getMessage());
  }

  @Test
  void spliceRepliesDefaultToOnAndTakeABoolean() throws Exception {
    assertEquals(true, BASE.fuseSpliceReplies());
    assertFalse(parse("fuse:\n  spliceReplies: false\n").fuseSpliceReplies());
    assertEquals(true, parse("fuse: {passthrough: false, spliceReplies: true}\n").fuseSpliceReplies());
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> parse("fuse:\n  spliceReplies: 1\n"));
    assertEquals("config.yaml line 2: fuse.spliceReplies: expected true or false, got '1'", e.getMessage());
  }

  @Test
  void sizesAndDurations() throws Exception {
    assertEquals(1L << 40, Sizes.parse("s", "1T"));
    assertEquals(4096, Sizes.parse("s", "4096"));
    assertEquals(64L << 10, Sizes.parse("s", "64KiB"));
    assertEquals(Duration.ofMillis(500), Durations.parse("d", "500ms"));
    assertEquals(Duration.ofMinutes(2), Durations.parse("d", "2m"));
    assertEquals(Duration.ofSeconds(7), Durations.parse("d", "7"));
    assertThrows(ModelCacheException.class, () -> Durations.parse("d", "soon"));
    assertEquals("1.5 GiB", Sizes.format(3L << 29));
  }
}
