package io.modelcache.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.modelcache.config.Settings;
import io.modelcache.config.YamlTree;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Parses every file in docs/kubernetes and checks the fields that make the deployment work. */
class KubernetesManifestsTest {
  static final Path DIR = Path.of("..", "docs", "kubernetes");
  static final List<JsonNode> DOCS = new ArrayList<>();

  @BeforeAll
  static void parseAll() throws Exception {
    ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
    try (Stream<Path> s = Files.list(DIR)) {
      for (Path p : s.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        try (var it = yaml.readerFor(JsonNode.class).readValues(p.toFile())) {
          while (it.hasNext()) {
            JsonNode n = (JsonNode) it.next();
            if (n != null && !n.isNull() && !n.isMissingNode()) {
              assertTrue(n.has("apiVersion") && n.has("kind") && n.path("metadata").has("name"), p + ": " + n);
              DOCS.add(n);
            }
          }
        }
      }
    }
    assertFalse(DOCS.isEmpty());
  }

  static JsonNode find(String kind, String name) {
    return DOCS.stream()
        .filter(d -> d.path("kind").asText().equals(kind) && d.path("metadata").path("name").asText().equals(name))
        .findFirst().orElseThrow(() -> new AssertionError("no " + kind + " " + name));
  }

  static JsonNode volumeMount(JsonNode container, String name) {
    for (JsonNode m : container.path("volumeMounts")) {
      if (m.path("name").asText().equals(name)) {
        return m;
      }
    }
    throw new AssertionError("no volumeMount " + name);
  }

  static JsonNode volume(JsonNode podSpec, String name) {
    for (JsonNode v : podSpec.path("volumes")) {
      if (v.path("name").asText().equals(name)) {
        return v;
      }
    }
    throw new AssertionError("no volume " + name);
  }

  @Test
  void daemonSetCanMountAndPropagate() {
    JsonNode spec = find("DaemonSet", "modelcache").path("spec").path("template").path("spec");
    JsonNode c = spec.path("containers").get(0);
    assertTrue(c.path("securityContext").path("privileged").asBoolean(), "privileged");
    JsonNode home = volumeMount(c, "home");
    assertEquals("Bidirectional", home.path("mountPropagation").asText());
    assertEquals("/var/lib/modelcache", home.path("mountPath").asText());
    assertEquals("/var/lib/modelcache", volume(spec, "home").path("hostPath").path("path").asText());
    assertEquals("/dev/fuse", volume(spec, "fuse").path("hostPath").path("path").asText());
    assertEquals("/dev/fuse", volumeMount(c, "fuse").path("mountPath").asText());
    assertFalse(c.path("lifecycle").path("preStop").toString().contains("umount"),
        "no preStop unmount: mounts are handed to the next pod");
    assertNotNull(c.path("resources").path("requests").get("memory"));
    assertNotNull(c.path("resources").path("requests").get("cpu"));
    assertEquals("/etc/modelcache/mounts.d", volumeMount(c, "mounts").path("mountPath").asText());
    assertEquals("modelcache-mounts", volume(spec, "mounts").path("configMap").path("name").asText());
  }

  @Test
  void mountsOutliveADaemonPodThroughTheHolder() throws Exception {
    Settings s = Settings.defaults(Path.of("/var/lib/modelcache")).apply(YamlTree.parse("configmap config.yaml",
        find("ConfigMap", "modelcache-config").path("data").path("config.yaml").asText()));
    assertTrue(s.restartKeepMounts(), "restart.keepMounts is on");
    JsonNode ds = find("DaemonSet", "modelcache-holder").path("spec");
    assertEquals("OnDelete", ds.path("updateStrategy").path("type").asText(), "a holder is never rolled by accident");
    JsonNode spec = ds.path("template").path("spec");
    JsonNode c = spec.path("containers").get(0);
    String cmd = c.path("command").toString();
    assertTrue(cmd.contains("\"holder\"") && cmd.contains("\"--stay\"") && cmd.contains("\"--grace\""), cmd);
    JsonNode daemon = find("DaemonSet", "modelcache").path("spec").path("template").path("spec");
    String daemonHome = volume(daemon, "home").path("hostPath").path("path").asText();
    assertEquals(daemonHome, volume(spec, "home").path("hostPath").path("path").asText(), "the same home: one socket");
    assertEquals(volumeMount(daemon.path("containers").get(0), "home").path("mountPath").asText(),
        volumeMount(c, "home").path("mountPath").asText());
    assertTrue(cmd.contains(volumeMount(c, "home").path("mountPath").asText()), "the holder listens in that home");
    assertEquals(daemon.path("nodeSelector"), spec.path("nodeSelector"), "a holder on every daemon's node");
  }

  @Test
  void metricsPortIsConsistent() throws Exception {
    JsonNode c = find("DaemonSet", "modelcache").path("spec").path("template").path("spec").path("containers").get(0);
    int containerPort = -1;
    for (JsonNode p : c.path("ports")) {
      if (p.path("name").asText().equals("metrics")) {
        containerPort = p.path("containerPort").asInt();
      }
    }
    Settings s = Settings.defaults(Path.of("/var/lib/modelcache")).apply(YamlTree.parse("configmap config.yaml",
        find("ConfigMap", "modelcache-config").path("data").path("config.yaml").asText()));
    assertEquals(containerPort, Integer.parseInt(s.metricsAddress().substring(s.metricsAddress().lastIndexOf(':') + 1)));
    assertEquals("0.0.0.0", s.metricsAddress().substring(0, s.metricsAddress().lastIndexOf(':')),
        "in a pod the endpoint must listen beyond loopback");
    JsonNode svc = find("Service", "modelcache-metrics").path("spec");
    assertEquals(containerPort, svc.path("ports").get(0).path("port").asInt());
    assertEquals("metrics", svc.path("ports").get(0).path("targetPort").asText());
    JsonNode sm = find("ServiceMonitor", "modelcache").path("spec");
    assertEquals(svc.path("ports").get(0).path("name").asText(), sm.path("endpoints").get(0).path("port").asText());
    assertEquals("/metrics", sm.path("endpoints").get(0).path("path").asText());
    assertEquals("modelcache", sm.path("selector").path("matchLabels").path("app.kubernetes.io/name").asText());
  }

  @Test
  void vllmPodSeesTheDeclaredMount() throws Exception {
    JsonNode pod = find("Pod", "vllm-llama3-8b").path("spec");
    JsonNode c = pod.path("containers").get(0);
    JsonNode m = volumeMount(c, "model");
    assertEquals("HostToContainer", m.path("mountPropagation").asText());
    assertTrue(m.path("readOnly").asBoolean());
    String hostPath = volume(pod, "model").path("hostPath").path("path").asText();
    assertTrue(hostPath.startsWith("/var/lib/modelcache/"), "the pod's hostPath lies under the daemon's Bidirectional home");
    assertTrue(c.path("command").toString().contains(m.path("mountPath").asText()), "vllm serves the mounted path");
    JsonNode mounts = find("ConfigMap", "modelcache-mounts").path("data");
    JsonNode decl = new ObjectMapper(new YAMLFactory()).readTree(mounts.path("llama3-8b.yaml").asText());
    assertEquals(hostPath, decl.path("mountpoint").asText(), "the declared mountpoint is the pod's hostPath");
    assertFalse(decl.path("reference").asText().isEmpty());
  }
}
