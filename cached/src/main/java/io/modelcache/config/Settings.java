package io.modelcache.config;

import io.modelcache.error.ModelCacheException;
import io.modelcache.trust.Require;
import io.modelcache.trust.TrustPolicy;
import io.modelcache.trust.TrustRule;
import io.modelcache.trust.TrustedKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The daemon's settings: defaults, overridden by {@code /etc/modelcache/config.yaml} (or
 * {@code --config}), overridden by command-line flags. Every key of the file is checked; an unknown
 * key or a bad value is an error naming the file, line and key, and the daemon refuses to start.
 */
public record Settings(
    Path home,
    long cacheSizeBytes,
    int chunkSizeBytes,
    Duration fetchTimeout,
    int fetchConcurrency,
    int readAheadKb,
    boolean prefetch,
    boolean backgroundFill,
    boolean allowOther,
    String metricsAddress,
    Path credentials,
    Path mountsDir,
    List<RegistrySettings> registries,
    List<TrustRule> trust,
    String controlGroup,
    String controlAdminGroup,
    Duration restartGrace,
    boolean restartKeepMounts,
    boolean fusePassthrough,
    String unindexedVerification,
    String fuseTransport,
    boolean fuseSpliceReplies) {

  /** {@code verify.unindexed}: blobs without a chunk index are served as they arrive and checked when whole. */
  public static final String LAZY = "lazy";
  /** {@code verify.unindexed}: a blob without a chunk index is served only once it is whole and verified. */
  public static final String STRICT = "strict";

  public static final Path DEFAULT_FILE = Path.of("/etc/modelcache/config.yaml");

  /** How long kept FUSE connections wait for a daemon to take them back (restart.grace). */
  public static final Duration DEFAULT_RESTART_GRACE = Duration.ofMinutes(5);

  public static Settings defaults(Path home) {
    return new Settings(home, 100L << 30, 4 << 20, Duration.ofSeconds(30), 8, 1024, true, true, true,
        "127.0.0.1:9464", null, null, List.of(), List.of(), null, null, DEFAULT_RESTART_GRACE, true, true, LAZY, "kernel", true);
  }

  private static final Set<String> SCALAR_KEYS = Set.of(
      "home", "cache.size", "cache.chunkSize", "fetch.timeout", "fetch.concurrency", "readAhead.kernelKb",
      "readAhead.prefetch", "readAhead.backgroundFill", "mounts.allowOther", "mounts.dir", "metrics.address",
      "credentials", "control.group", "control.adminGroup", "restart.grace",
      "restart.keepMounts", "fuse.passthrough", "verify.unindexed",
      "fuse.transport", "fuse.spliceReplies");
  private static final Pattern TRUST_KEY = Pattern.compile("trust\\.(\\d+)\\.(scope|require|keys)");
  private static final Pattern REGISTRY_KEY = Pattern.compile("registries\\.(\\d+)\\.(host|mirrors|plainHttp|proxy|ca)");

  /** Reads a config file; a missing default file is fine, a missing explicit one is an error. */
  public static Settings load(Path file, boolean explicit, Settings base) throws ModelCacheException {
    if (!Files.exists(file)) {
      if (explicit) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE, "config file " + file + " does not exist");
      }
      return base;
    }
    try {
      return base.apply(YamlTree.parse(file.toString(), Files.readString(file)));
    } catch (ModelCacheException e) {
      throw e;
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "config file " + file + ": not UTF-8 text");
    } catch (java.nio.file.AccessDeniedException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "config file " + file + ": permission denied");
    } catch (java.io.IOException e) {
      String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "config file " + file + ": " + why);
    }
  }

  /** This settings object with every key of {@code t} applied. */
  public Settings apply(YamlTree t) throws ModelCacheException {
    Settings s = this;
    Map<Integer, String[]> regs = new TreeMap<>();
    Map<Integer, List<String>> regMirrors = new TreeMap<>();
    Map<Integer, String> regKey = new TreeMap<>();
    Map<Integer, Map<String, String>> trustKeys = new TreeMap<>();
    for (Map.Entry<String, YamlTree.Value> e : t.values().entrySet()) {
      String key = e.getKey();
      YamlTree.Value v = e.getValue();
      Matcher tm = TRUST_KEY.matcher(key);
      if (tm.matches()) {
        trustKeys.computeIfAbsent(Integer.parseInt(tm.group(1)), k -> new TreeMap<>()).put(tm.group(2), key);
        continue;
      }
      Matcher m = REGISTRY_KEY.matcher(key);
      if (m.matches()) {
        int i = Integer.parseInt(m.group(1));
        regKey.putIfAbsent(i, key);
        String[] r = regs.computeIfAbsent(i, k -> new String[4]);
        switch (m.group(2)) {
          case "host" -> r[0] = v.text();
          case "plainHttp" -> r[1] = bool(t, key, v).toString();
          case "proxy" -> r[2] = proxy(t, key, v);
          case "ca" -> r[3] = v.text().trim();
          default -> {
            if (!(v.value() instanceof List<?> l)) {
              throw t.error(key, "expected a list of hosts");
            }
            List<String> hosts = new ArrayList<>();
            l.forEach(o -> hosts.add(String.valueOf(o)));
            regMirrors.put(i, hosts);
          }
        }
        continue;
      }
      if (!SCALAR_KEYS.contains(key)) {
        throw unknownKey(t, key);
      }
      if (v.value() instanceof List<?>) {
        throw t.error(key, "expected a single value, not a list");
      }
      String x = v.text();
      try {
        s = switch (key) {
          case "home" -> s.with(h -> h.home = absolute(x));
          case "cache.size" -> s.with(h -> h.cacheSizeBytes = budget(Sizes.parse("size", x)));
          case "cache.chunkSize" -> s.with(h -> h.chunkSizeBytes = chunk(x));
          case "fetch.timeout" -> s.with(h -> h.fetchTimeout = Durations.parsePositive("duration", x));
          case "fetch.concurrency" -> s.with(h -> h.fetchConcurrency = positive(x));
          case "readAhead.kernelKb" -> s.with(h -> h.readAheadKb = readAheadKb(positive(x)));
          case "readAhead.prefetch" -> s.with(h -> h.prefetch = bool(t, key, v));
          case "readAhead.backgroundFill" -> s.with(h -> h.backgroundFill = bool(t, key, v));
          case "mounts.allowOther" -> s.with(h -> h.allowOther = bool(t, key, v));
          case "mounts.dir" -> s.with(h -> h.mountsDir = absolute(x));
          case "metrics.address" -> s.with(h -> h.metricsAddress = address(x));
          case "credentials" -> s.with(h -> h.credentials = absolute(x));
          case "control.group" -> s.with(h -> h.controlGroup = groupName(x));
          case "control.adminGroup" -> s.with(h -> h.controlAdminGroup = groupName(x));
          case "restart.grace" -> s.with(h -> h.restartGrace = Durations.parse("duration", x));
          case "restart.keepMounts" -> s.with(h -> h.restartKeepMounts = bool(t, key, v));
          case "fuse.passthrough" -> s.with(h -> h.fusePassthrough = bool(t, key, v));
          case "verify.unindexed" -> s.with(h -> h.unindexedVerification = verifyMode(x));
          case "fuse.transport" -> s.with(h -> h.fuseTransport = transport(x));
          case "fuse.spliceReplies" -> s.with(h -> h.fuseSpliceReplies = bool(t, key, v));
          default -> throw unknownKey(t, key);
        };
      } catch (ModelCacheException ex) {
        if (ex.getMessage().startsWith(t.source())) {
          throw ex;
        }
        throw t.error(key, ex.getMessage());
      }
    }
    if (!regs.isEmpty() || !regMirrors.isEmpty()) {
      List<RegistrySettings> list = new ArrayList<>();
      for (int i : new java.util.TreeSet<>(union(regs.keySet(), regMirrors.keySet()))) {
        String[] r = regs.getOrDefault(i, new String[4]);
        if (r[0] == null || r[0].isBlank()) {
          throw t.error(regKey.get(i), "registry entry without a host");
        }
        list.add(new RegistrySettings(r[0], regMirrors.get(i), r[1] == null ? null : Boolean.valueOf(r[1]), r[2],
            r[3] == null || r[3].isEmpty() ? null : Path.of(r[3])));
      }
      final List<RegistrySettings> regsFinal = list;
      s = s.with(h -> h.registries = regsFinal);
    }
    if (!trustKeys.isEmpty()) {
      List<TrustRule> rules = new ArrayList<>();
      for (Map<String, String> keys : trustKeys.values()) {
        rules.add(trustRule(t, keys));
      }
      s = s.with(h -> h.trust = List.copyOf(rules));
    }
    return s;
  }

  /** One {@code trust:} entry; each error names the file, line and key. */
  private static TrustRule trustRule(YamlTree t, Map<String, String> keys) throws ModelCacheException {
    String any = keys.values().iterator().next();
    String prefix = any.substring(0, any.lastIndexOf('.') + 1);
    String scopeKey = keys.get("scope");
    if (scopeKey == null) {
      throw t.error(any, "trust entry without a scope (use \"*\" for every registry)");
    }
    String scope;
    try {
      scope = TrustRule.checkScope(t.values().get(scopeKey).text());
    } catch (ModelCacheException e) {
      throw t.error(scopeKey, e.getMessage());
    }
    String requireKey = keys.get("require");
    if (requireKey == null) {
      throw t.error(scopeKey, "trust entry without 'require' (sigstore, none or reject)");
    }
    String word = t.values().get(requireKey).text().trim();
    Require require = switch (word) {
      case "sigstore" -> Require.SIGSTORE;
      case "none" -> Require.NONE;
      case "reject" -> Require.REJECT;
      default -> throw t.error(requireKey, "expected sigstore, none or reject, got '" + word + "'");
    };
    List<TrustedKey> trusted = new ArrayList<>();
    String keysKey = keys.get("keys");
    if (keysKey != null) {
      Object v = t.values().get(keysKey).value();
      List<?> files = v instanceof List<?> l ? l : String.valueOf(v).isBlank() ? List.of() : List.of(v);
      for (Object f : files) {
        try {
          trusted.add(TrustedKey.read(Path.of(String.valueOf(f).trim())));
        } catch (ModelCacheException e) {
          throw t.error(keysKey, e.getMessage());
        }
      }
    }
    if (require == Require.SIGSTORE && trusted.isEmpty()) {
      throw t.error(keysKey != null ? keysKey : requireKey, "require: sigstore needs at least one key file");
    }
    if (require != Require.SIGSTORE && !trusted.isEmpty()) {
      throw t.error(keysKey, "keys only apply to require: sigstore (" + prefix + "require is " + word + ")");
    }
    return new TrustRule(scope, require, trusted);
  }

  private static Set<Integer> union(Set<Integer> a, Set<Integer> b) {
    Set<Integer> u = new java.util.HashSet<>(a);
    u.addAll(b);
    return u;
  }

  /** A proxy URL checked here so that a typo stops the daemon at start, not at the first fetch. */
  private static String proxy(YamlTree t, String key, YamlTree.Value v) throws ModelCacheException {
    try {
      return ProxyUrl.parse(v.text()).toString();
    } catch (IllegalArgumentException e) {
      throw t.error(key, e.getMessage());
    }
  }

  private static Boolean bool(YamlTree t, String key, YamlTree.Value v) throws ModelCacheException {
    return switch (v.text().toLowerCase(java.util.Locale.ROOT)) {
      case "true", "yes", "on" -> true;
      case "false", "no", "off" -> false;
      default -> throw t.error(key, "expected true or false, got '" + v.text() + "'");
    };
  }

  /**
   * The error for a key this file does not know: a known section given the wrong shape (a scalar
   * where a mapping belongs, a mapping where a list of entries belongs) says what it expected.
   */
  private static ModelCacheException unknownKey(YamlTree t, String key) {
    String top = key.contains(".") ? key.substring(0, key.indexOf('.')) : key;
    if (top.equals("registries") && !key.matches("registries\\.\\d+\\..*")) {
      return t.error(key, "registries must be a list of entries (- host: ...)");
    }
    if (top.equals("trust") && !key.matches("trust\\.\\d+\\..*")) {
      return t.error(key, "trust must be a list of rules (- scope: ...)");
    }
    List<String> under = SCALAR_KEYS.stream().filter(k -> k.startsWith(key + ".")).sorted().toList();
    if (!under.isEmpty()) {
      return t.error(key, "expected a mapping of " + String.join(", ", under));
    }
    return t.error(key, "unknown key");
  }

  /** A cache budget: a node cache of 0 bytes could keep nothing it fetched. */
  public static long budget(long bytes) throws ModelCacheException {
    if (bytes <= 0) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "the cache size must be above 0");
    }
    return bytes;
  }

  /**
   * A path in the config file: absolute, since a relative one would depend on the daemon's working
   * directory (under systemd, {@code /}).
   */
  private static Path absolute(String x) throws ModelCacheException {
    Path p;
    try {
      p = Path.of(x.trim());
    } catch (java.nio.file.InvalidPathException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "not a path: '" + x + "'");
    }
    if (!p.isAbsolute()) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "'" + x + "' is not an absolute path (a relative one would depend on the daemon's working directory)");
    }
    return p;
  }

  /** The most kernel read-ahead a mount may ask for: 1 GiB, far past what a request (1 MiB) or a file needs. */
  public static final int MAX_READ_AHEAD_KB = 1 << 20;

  /** A mount's kernel read-ahead in KiB: 1 to {@link #MAX_READ_AHEAD_KB}. */
  public static int readAheadKb(int kb) throws ModelCacheException {
    if (kb < 1 || kb > MAX_READ_AHEAD_KB) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "read-ahead must be 1 to " + MAX_READ_AHEAD_KB + " KiB (1 GiB), got " + kb);
    }
    return kb;
  }

  private static int positive(String x) throws ModelCacheException {
    try {
      int n = Integer.parseInt(x.trim());
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw new ModelCacheException(ModelCacheException.Kind.USAGE, "expected a positive whole number, got '" + x + "'");
  }

  /** A group name as groupadd accepts it (control.group, control.adminGroup). */
  static String groupName(String x) throws ModelCacheException {
    String g = x.trim();
    if (!g.matches("[A-Za-z_][A-Za-z0-9_.-]{0,31}")) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "expected a group name, got '" + x + "'");
    }
    return g;
  }

  /** {@code lazy} or {@code strict}. */
  static String verifyMode(String x) throws ModelCacheException {
    String v = x.trim();
    if (v.equals(LAZY) || v.equals(STRICT)) {
      return v;
    }
    throw new ModelCacheException(ModelCacheException.Kind.USAGE, "expected lazy or strict, got '" + x + "'");
  }

  /** Whether blobs without a chunk index are served only once verified whole. */
  public boolean strictUnindexed() {
    return STRICT.equals(unindexedVerification);
  }

  /** A chunk size: a power of two from 64 KiB to 64 MiB. */
  public static int chunk(String x) throws ModelCacheException {
    long n = Sizes.parse("chunk size", x);
    if (n < (64 << 10) || n > (64 << 20) || Long.bitCount(n) != 1) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "chunk size '" + x + "' must be a power of two from 64K to 64M");
    }
    return (int) n;
  }

  /** {@code host:port}, or {@code off} to disable the endpoint. */
  public static String address(String x) throws ModelCacheException {
    String a = x.trim();
    if (a.equalsIgnoreCase("off") || a.equalsIgnoreCase("false") || a.isEmpty()) {
      return "";
    }
    int c = a.lastIndexOf(':');
    try {
      int port = Integer.parseInt(a.substring(c + 1));
      if (c > 0 && port >= 0 && port < 65536) {
        return a;
      }
    } catch (NumberFormatException | IndexOutOfBoundsException ignored) {
      // reported below
    }
    throw new ModelCacheException(ModelCacheException.Kind.USAGE, "expected host:port or off, got '" + x + "'");
  }

  /** {@code fuse.transport}: kernel (the FUSE protocol on /dev/fuse, the default) or jnr (libfuse2). */
  static String transport(String x) throws ModelCacheException {
    if (x.equals("kernel") || x.equals("jnr")) {
      return x;
    }
    throw new ModelCacheException(ModelCacheException.Kind.USAGE, "expected kernel or jnr, got '" + x + "'");
  }

  /** Mutable copy used while applying overrides; keeps the record itself immutable. */
  public static final class Builder {
    public Path home;
    public long cacheSizeBytes;
    public int chunkSizeBytes;
    public Duration fetchTimeout;
    public int fetchConcurrency;
    public int readAheadKb;
    public boolean prefetch;
    public boolean backgroundFill;
    public boolean allowOther;
    public String metricsAddress;
    public Path credentials;
    public Path mountsDir;
    public List<RegistrySettings> registries;
    public List<TrustRule> trust;
    public String controlGroup;
    public String controlAdminGroup;
    public Duration restartGrace;
    public boolean restartKeepMounts;
    public boolean fusePassthrough;
    public String unindexedVerification;
    public String fuseTransport;
    public boolean fuseSpliceReplies;

    Builder(Settings s) {
      home = s.home;
      cacheSizeBytes = s.cacheSizeBytes;
      chunkSizeBytes = s.chunkSizeBytes;
      fetchTimeout = s.fetchTimeout;
      fetchConcurrency = s.fetchConcurrency;
      readAheadKb = s.readAheadKb;
      prefetch = s.prefetch;
      backgroundFill = s.backgroundFill;
      allowOther = s.allowOther;
      metricsAddress = s.metricsAddress;
      credentials = s.credentials;
      mountsDir = s.mountsDir;
      registries = s.registries;
      trust = s.trust;
      controlGroup = s.controlGroup;
      controlAdminGroup = s.controlAdminGroup;
      restartGrace = s.restartGrace;
      restartKeepMounts = s.restartKeepMounts;
      fusePassthrough = s.fusePassthrough;
      unindexedVerification = s.unindexedVerification;
      fuseTransport = s.fuseTransport;
      fuseSpliceReplies = s.fuseSpliceReplies;
    }

    Settings build() {
      return new Settings(home, cacheSizeBytes, chunkSizeBytes, fetchTimeout, fetchConcurrency, readAheadKb, prefetch,
          backgroundFill, allowOther, metricsAddress, credentials, mountsDir, registries, trust,
          controlGroup, controlAdminGroup, restartGrace, restartKeepMounts, fusePassthrough, unindexedVerification,
          fuseTransport, fuseSpliceReplies);
    }
  }

  /** An edit that may fail validation. */
  public interface Edit {
    void apply(Builder b) throws ModelCacheException;
  }

  public Settings with(Edit edit) throws ModelCacheException {
    Builder b = new Builder(this);
    edit.apply(b);
    return b.build();
  }

  /** The {@code trust:} rules as a policy. */
  public TrustPolicy trustPolicy() {
    return new TrustPolicy(trust);
  }

  /** Where declarative mount files live: {@code mounts.dir}, else {@code <home>/mounts.d}. */
  public Path effectiveMountsDir() {
    return mountsDir != null ? mountsDir : home.resolve("mounts.d");
  }
}
