package io.modelcache.handover;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The descriptors a service manager passed at exec ({@code sd_listen_fds} semantics): LISTEN_PID
 * must be this process, LISTEN_FDS of them from fd 3 on, named by the colon-separated
 * LISTEN_FDNAMES ("unknown" where a name is missing). Pure: reads the environment map it is given.
 */
public final class ListenFds {
  /** The first passed descriptor (SD_LISTEN_FDS_START). */
  public static final int START = 3;

  private ListenFds() {}

  /** One passed descriptor. */
  public record Passed(String name, int fd) {}

  /** The descriptors passed to process {@code pid}, or none if they were meant for another one. */
  public static List<Passed> parse(Map<String, String> env, long pid) {
    List<Passed> out = new ArrayList<>();
    String forPid = env.get("LISTEN_PID");
    String count = env.get("LISTEN_FDS");
    if (forPid == null || count == null) {
      return out;
    }
    int n;
    try {
      if (Long.parseLong(forPid.trim()) != pid) {
        return out;
      }
      n = Integer.parseInt(count.trim());
    } catch (NumberFormatException e) {
      return out;
    }
    if (n <= 0 || n > 65536) {
      return out;
    }
    String names = env.getOrDefault("LISTEN_FDNAMES", "");
    String[] split = names.isEmpty() ? new String[0] : names.split(":", -1);
    for (int i = 0; i < n; i++) {
      String name = i < split.length && !split[i].isEmpty() ? split[i] : "unknown";
      out.add(new Passed(name, START + i));
    }
    return out;
  }
}
