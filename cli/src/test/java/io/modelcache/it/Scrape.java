package io.modelcache.it;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/** One Prometheus scrape of a daemon's /metrics, with lookups by name and labels. */
record Scrape(String text) {
  static Scrape of(int port) throws Exception {
    HttpClient c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new AssertionError("/metrics answered " + r.statusCode());
    }
    return new Scrape(r.body());
  }

  /** Sum of the samples named {@code name} whose labels include every given label. */
  double value(String name, Map<String, String> labels) {
    double sum = 0;
    boolean found = false;
    for (String line : text.lines().toList()) {
      if (line.startsWith("#") || !(line.startsWith(name + " ") || line.startsWith(name + "{"))) {
        continue;
      }
      String lab = line.startsWith(name + "{") ? line.substring(name.length() + 1, line.indexOf('}')) : "";
      boolean match = labels.entrySet().stream().allMatch(e -> lab.contains(e.getKey() + "=\"" + e.getValue() + "\""));
      if (match) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        found = true;
      }
    }
    if (!found) {
      throw new AssertionError("no sample " + name + labels + " in scrape:\n" + text);
    }
    return sum;
  }

  double value(String name) {
    return value(name, Map.of());
  }
}
