package io.modelcache.cli;

import io.modelcache.control.ControlClient;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code modelcache umount DIR}. */
@Command(name = "umount", aliases = "unmount", description = "Unmount a ModelCache mount.")
final class UmountCommand implements Callable<Integer> {
  @Mixin HomeOption home;

  @Parameters(index = "0", paramLabel = "DIR", description = "The mountpoint to unmount.")
  Path dir;

  @Override
  public Integer call() throws Exception {
    new ControlClient(home.resolve()).call(
        ControlClient.request("umount").put("dir", dir.toAbsolutePath().normalize().toString()));
    System.out.println("unmounted " + dir.toAbsolutePath().normalize());
    return 0;
  }
}
