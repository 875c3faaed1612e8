package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.os.Fds;
import io.modelcache.os.Sockets;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The systemd path without systemd (this machine's PID 1 is not systemd): the exact datagrams a
 * service manager receives on NOTIFY_SOCKET, with the descriptors attached, and a process started
 * the way systemd starts a service with a non-empty store (fds from 3, LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES) taking them back.
 */
@Timeout(60)
class SystemdFdStoreIT {
  @Test
  void storeAndRemoveAreTheDatagramsSystemdReads(@TempDir Path dir) throws Exception {
    for (String socket : List.of(dir.resolve("notify").toString(), "@modelcache-test-" + ProcessHandle.current().pid())) {
      int manager = Sockets.bindDatagram(socket);
      int[] pipe = Fds.pipe();
      try {
        SystemdKeeper keeper = new SystemdKeeper(new SdNotify(socket), Map.of(), ProcessHandle.current().pid(), n -> true);
        keeper.keep("fuse-0123abcd", pipe[1], Map.of("ignored", "systemd keeps no metadata"));
        Sockets.Received m = Sockets.receive(manager, 4096);
        assertEquals("FDSTORE=1\nFDNAME=fuse-0123abcd\n", new String(m.data(), StandardCharsets.UTF_8));
        assertEquals(1, m.fds().length);
        int stored = m.fds()[0];
        assertEquals(Fds.describe(pipe[1]), Fds.describe(stored), "the same pipe");
        Fds.write(stored, "written through the stored copy".getBytes(StandardCharsets.UTF_8));
        assertEquals("written through the stored copy", new String(Fds.read(pipe[0], 100), StandardCharsets.UTF_8));
        Fds.close(stored);

        keeper.release("fuse-0123abcd");
        Sockets.Received r = Sockets.receive(manager, 4096);
        assertEquals("FDSTOREREMOVE=1\nFDNAME=fuse-0123abcd\n", new String(r.data(), StandardCharsets.UTF_8));
        assertEquals(0, r.fds().length);

        new SdNotify(socket).notify("READY=1\n");
        assertEquals("READY=1\n", new String(Sockets.receive(manager, 4096).data(), StandardCharsets.UTF_8));
      } finally {
        Fds.closeQuietly(manager);
        Fds.closeQuietly(pipe[0]);
        Fds.closeQuietly(pipe[1]);
      }
    }
  }

  @Test
  void aRestartedServiceTakesItsStoredDescriptorsBackFromFdThree(@TempDir Path dir) throws Exception {
    Path kept = dir.resolve("kept");
    Path other = dir.resolve("other");
    Files.writeString(kept, "bytes of the kept file\n");
    Files.writeString(other, "not ours\n");
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // What systemd does: the stored descriptors at 3.., their names, and the pid they are meant for
    // (the exec'd JVM keeps the shell's pid).
    Map<String, String> env = Map.of("KEPT", kept.toString(), "OTHER", other.toString(), "JAVA", java, "CP", cp);
    ProcessBuilder pb = new ProcessBuilder("bash", "-c",
        "exec 3<\"$KEPT\" 4<\"$OTHER\"; export LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=fuse-a:other; "
            + "exec \"$JAVA\" --enable-native-access=ALL-UNNAMED -cp \"$CP\" \"$MAIN\"")
        .redirectError(ProcessBuilder.Redirect.INHERIT);
    pb.environment().putAll(env);
    pb.environment().put("MAIN", HandoverChild.TakeBack.class.getName());
    Process child = pb.start();
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, child.exitValue(), out);
    long ino = ((Number) Files.getAttribute(kept, "unix:ino")).longValue();
    assertArrayEquals(new String[] {"KEPT fuse-a " + ino + " " + kept + " bytes of the kept file", "LEFT " + other},
        out.strip().split("\n"), out);
  }
}
