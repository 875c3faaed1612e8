package io.modelcache.cli;

import io.modelcache.config.Durations;
import io.modelcache.config.Settings;
import io.modelcache.handover.HolderKeeper;
import io.modelcache.handover.HolderMain;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code modelcache holder}: runs the process that keeps mounts' FUSE connections while daemons come
 * and go, in the foreground. The daemon starts one on its own when it needs one; run it yourself
 * (with {@code --stay}) where it must outlive the daemon's container, as its own Kubernetes DaemonSet.
 */
@Command(name = "holder", description = "Keep FUSE connections across daemon restarts (the daemon starts this itself; --stay for a container of its own).")
final class HolderCommand implements Callable<Integer> {
  @Mixin HomeOption home;

  @Option(names = "--grace", paramLabel = "DURATION",
      description = "How long a connection no daemon takes back is kept before it is aborted (default 5m).")
  String grace;

  @Option(names = "--stay", description = "Keep running when holding nothing (a container's main process).")
  boolean stay;

  @Override
  public Integer call() throws Exception {
    List<String> args = new ArrayList<>(List.of("--socket", HolderKeeper.socketPath(home.resolve()).toString(),
        "--grace", (grace == null ? Settings.DEFAULT_RESTART_GRACE : Durations.parse("grace", grace)).toMillis() + "ms"));
    if (stay) {
      args.add("--stay");
    }
    HolderMain.main(args.toArray(String[]::new));
    return 0;
  }
}
