package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Main registers only the command being run, and every other case still sees them all. */
class MainTest {
  @Test
  void aNamedCommandOrAliasGetsOnlyItself() {
    assertEquals(List.of(MountCommand.class), Main.commandsFor(new String[] {"mount", "r", "d"}));
    assertEquals(List.of(LsCommand.class), Main.commandsFor(new String[] {"ls"}));
    assertEquals(List.of(UmountCommand.class), Main.commandsFor(new String[] {"unmount", "d"}));
    assertEquals(List.of(CacheCommand.class), Main.commandsFor(new String[] {"cache", "ls"}));
  }

  @Test
  void helpRootOptionsUnknownOrNoCommandGetAll() {
    for (String[] args : List.of(new String[] {}, new String[] {"help", "mount"}, new String[] {"--help"},
        new String[] {"-V"}, new String[] {"mnt"}, new String[] {"--home", "x", "mount"})) {
      assertEquals(Main.COMMANDS, Main.commandsFor(args), String.join(" ", args));
    }
  }

  @Test
  void rootUsageListsEveryCommandInOrder() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    assertEquals(0, Main.run(new String[] {"--help"}, new PrintWriter(out, true), new PrintWriter(err, true)));
    String usage = out.toString();
    int at = -1;
    for (Class<?> c : Main.COMMANDS) {
      String name = c.getAnnotation(CommandLine.Command.class).name();
      int i = Math.max(usage.indexOf("\n  " + name + " "), usage.indexOf("\n  " + name + ","));
      assertTrue(i > at, name + " missing or out of order in:\n" + usage);
      at = i;
    }
  }

  @Test
  void usageMistakesAreOneLineWithPicocliMessagesAndTheHelpToSee() {
    StringWriter err = new StringWriter();
    PrintWriter e = new PrintWriter(err, true);
    PrintWriter o = new PrintWriter(new StringWriter(), true);
    assertEquals(2, Main.run(new String[] {"mnt"}, o, e));
    assertEquals("modelcache: Unmatched argument at index 0: 'mnt'; did you mean mount? (see 'modelcache --help')\n",
        err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {"mount", "only-ref"}, o, e));
    assertEquals("modelcache: Missing required parameter: 'DIR' (see 'modelcache mount --help')\n", err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {"unmount"}, o, e));
    assertEquals("modelcache: Missing required parameter: 'DIR' (see 'modelcache umount --help')\n", err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {}, o, e));
    assertEquals("modelcache: missing command (see 'modelcache --help')\n", err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {"umount", ""}, o, e));
    assertEquals("modelcache: Invalid value for positional parameter at index 0 (DIR): an empty path"
        + " (see 'modelcache umount --help')\n", err.toString());
  }

  @Test
  void aBadPageCacheModeIsOneUsageLine() {
    StringWriter err = new StringWriter();
    PrintWriter e = new PrintWriter(err, true);
    PrintWriter o = new PrintWriter(new StringWriter(), true);
    assertEquals(2, Main.run(new String[] {"pull", "--page-cache", "fast", "oci:/nonexistent/layout:v1", "/tmp/x"}, o, e));
    assertEquals("modelcache: --page-cache: 'fast' is not one of auto, keep, bypass\n", err.toString());
  }

  @Test
  void parallelismBelowOneIsOneUsageLine() {
    StringWriter err = new StringWriter();
    PrintWriter e = new PrintWriter(err, true);
    PrintWriter o = new PrintWriter(new StringWriter(), true);
    assertEquals(2, Main.run(new String[] {"push", "-j", "0", "/nonexistent/model", "oci:/nonexistent/layout:v1"}, o, e));
    assertEquals("modelcache: -j/--parallel: must be at least 1, got 0\n", err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {"pull", "-j", "-1", "oci:/nonexistent/layout:v1", "/tmp/x"}, o, e));
    assertEquals("modelcache: -j/--parallel: must be at least 1, got -1\n", err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, Main.run(new String[] {"push", "/nonexistent/model", "oci:/nonexistent/layout:v1"}, o, e));
    assertEquals("modelcache: /nonexistent/model: no such directory\n", err.toString());
  }
}
