package io.modelcache.handover;

import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.kernel.Negotiated;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How one mount's FUSE connection is kept: two named descriptors ({@code fuse-<id>-s}, the session
 * descriptor, and {@code fuse-<id>-c}, the clone served on; the id is a hash of the mountpoint, so
 * names fit systemd's FDNAME rules) and what the next daemon needs to serve it (device, INIT's
 * outcome) as metadata strings. Pure.
 */
public final class KeptConnection {
  private KeptConnection() {}

  /** The id of the mount at {@code mountpoint}: 16 hex digits of its path's sha256. */
  public static String id(String mountpoint) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(mountpoint.getBytes(StandardCharsets.UTF_8));
      return "fuse-" + HexFormat.of().formatHex(h, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  public static String sessionName(String mountpoint) {
    return id(mountpoint) + "-s";
  }

  public static String cloneName(String mountpoint) {
    return id(mountpoint) + "-c";
  }

  /** The metadata of {@code c} at {@code mountpoint} (no descriptors: they travel on their own). */
  public static Map<String, String> meta(String mountpoint, LiveConnection c) {
    Negotiated n = c.negotiated();
    Map<String, String> m = new LinkedHashMap<>();
    m.put("mountpoint", mountpoint);
    m.put("device", Long.toString(c.device()));
    m.put("fuse.connection", Long.toString(c.fusectlId()));
    m.put("init", n.kernelMajor() + "." + n.kernelMinor() + "." + n.minor() + "." + Long.toHexString(n.offered()) + "."
        + Long.toHexString(n.taken()) + "." + n.maxPages() + "." + n.maxReadahead() + "." + n.requestTimeoutSeconds());
    return m;
  }

  /**
   * The connection described by {@code meta} with the two kept descriptors.
   *
   * @throws IllegalArgumentException when the metadata is not what {@link #meta} wrote
   */
  public static LiveConnection connection(Map<String, String> meta, int sessionFd, int serveFd) {
    String init = meta.get("init");
    String dev = meta.get("device");
    if (init == null || dev == null) {
      throw new IllegalArgumentException("kept connection without device or init metadata: " + meta);
    }
    String[] f = init.split("\\.");
    if (f.length != 7 && f.length != 8) { // 7: written before the request timeout was recorded
      throw new IllegalArgumentException("bad init metadata '" + init + "'");
    }
    try {
      Negotiated n = new Negotiated(Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
          Long.parseUnsignedLong(f[3], 16), Long.parseUnsignedLong(f[4], 16), Integer.parseInt(f[5]), Integer.parseInt(f[6]),
          f.length == 8 ? Integer.parseInt(f[7]) : 0);
      return new LiveConnection(sessionFd, serveFd, Long.parseLong(dev), n);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad connection metadata " + meta + ": " + e.getMessage());
    }
  }
}
