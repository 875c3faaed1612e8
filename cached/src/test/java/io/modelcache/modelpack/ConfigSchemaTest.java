package io.modelcache.modelpack;

import static io.modelcache.modelpack.TestLayouts.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checks configs against the model-spec JSON schema with a tiny walker (types, required, no unknown fields). */
class ConfigSchemaTest {
  @TempDir Path tmp;

  static List<String> validate(JsonNode doc) throws Exception {
    JsonNode schema = JSON.readTree(TestLayouts.shared().resolve("fixtures/model-spec/config-schema.json").toFile());
    List<String> errors = new ArrayList<>();
    walk(schema, schema, doc, "$", errors);
    return errors;
  }

  static void walk(JsonNode root, JsonNode s, JsonNode v, String at, List<String> errors) {
    if (s.has("$ref")) {
      String ref = s.get("$ref").asText();
      walk(root, root.at(ref.substring(1)), v, at, errors);
      return;
    }
    String type = s.path("type").asText("");
    switch (type) {
      case "object" -> {
        if (!v.isObject()) {
          errors.add(at + ": not an object");
          return;
        }
        for (JsonNode r : s.path("required")) {
          if (!v.has(r.asText())) {
            errors.add(at + ": missing " + r.asText());
          }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          JsonNode ps = s.path("properties").get(e.getKey());
          if (ps == null) {
            if (s.path("additionalProperties").isBoolean() && !s.path("additionalProperties").asBoolean()) {
              errors.add(at + ": unknown field " + e.getKey());
            }
          } else {
            walk(root, ps, e.getValue(), at + "." + e.getKey(), errors);
          }
        }
      }
      case "array" -> {
        if (!v.isArray()) {
          errors.add(at + ": not an array");
          return;
        }
        if (s.has("minItems") && v.size() < s.get("minItems").asInt()) {
          errors.add(at + ": fewer than " + s.get("minItems") + " items");
        }
        for (int i = 0; i < v.size(); i++) {
          walk(root, s.path("items"), v.get(i), at + "[" + i + "]", errors);
        }
      }
      case "string" -> {
        if (!v.isTextual()) {
          errors.add(at + ": not a string");
          return;
        }
        if (s.has("minLength") && v.asText().length() < s.get("minLength").asInt()) {
          errors.add(at + ": too short");
        }
        if (s.has("enum")) {
          boolean ok = false;
          for (JsonNode e : s.get("enum")) {
            ok |= e.asText().equals(v.asText());
          }
          if (!ok) {
            errors.add(at + ": not one of " + s.get("enum"));
          }
        }
        if ("date-time".equals(s.path("format").asText())) {
          try {
            java.time.OffsetDateTime.parse(v.asText());
          } catch (RuntimeException e) {
            errors.add(at + ": not a date-time");
          }
        }
      }
      case "boolean" -> {
        if (!v.isBoolean()) {
          errors.add(at + ": not a boolean");
        }
      }
      default -> { }
    }
  }

  @Test
  void walkerCatchesUnknownAndMissingFields() throws Exception {
    assertEquals(List.of(), validate(JSON.readTree(
        TestLayouts.shared().resolve("fixtures/model-spec/example-config.json").toFile())));
    assertEquals(List.of("$: missing modelfs", "$.descriptor: unknown field nmae"),
        validate(JSON.readTree("{\"descriptor\":{\"nmae\":\"x\"},\"config\":{}}")));
  }

  @Test
  void pushedConfigMatchesTheSchema() throws Exception {
    Path d = tmp.resolve("m");
    Files.createDirectories(d);
    Files.write(d.resolve("model.gguf"), new byte[] {1, 2, 3});
    Files.writeString(d.resolve("Modelfile"), """
        # test
        NAME tiny
        ARCH transformer
        FAMILY llama
        FORMAT gguf
        PARAMSIZE 1B
        PRECISION int4
        QUANTIZATION q4_0
        MODEL *.gguf
        """);
    OciLayout l = OciLayout.create(Reference.parse("oci:" + tmp.resolve("l")));
    ModelPusher.push(d, l, "v1", PushOptions.defaults(),
        Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC));
    ModelArtifact a = ModelReader.read(l, "v1");
    JsonNode cfg = JSON.readTree(a.config());
    assertEquals(List.of(), validate(cfg));
    assertEquals("tiny", a.name());
    assertEquals("q4_0", cfg.path("config").path("quantization").asText());
    assertEquals("1B", cfg.path("config").path("paramSize").asText());
    assertEquals(List.of("model.gguf"), a.files().stream().map(ModelFile::path).toList());
    JsonNode m = JSON.readTree(a.manifest().bytes());
    assertEquals(Files.readString(d.resolve("Modelfile")), m.path("annotations").path("org.cncf.modctl.modelfile").asText());
  }
}
