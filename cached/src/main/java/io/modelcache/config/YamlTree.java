package io.modelcache.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A YAML document flattened to dotted keys, each value with the line it came from, so that every
 * configuration error can name its key and line. Scalars become strings; a list of scalars becomes a
 * list of strings; a list of mappings becomes keys {@code a.0.b}, {@code a.1.b}, ...
 */
public final class YamlTree {
  /** A scalar or list value and where it stood. */
  public record Value(Object value, int line) {
    public String text() {
      return value instanceof String s ? s : String.valueOf(value);
    }
  }

  private final String source;
  private final Map<String, Value> values;

  private YamlTree(String source, Map<String, Value> values) {
    this.source = source;
    this.values = values;
  }

  public static YamlTree parse(String source, String yaml) throws ModelCacheException {
    return parse(source, yaml, true);
  }

  /**
   * As {@link #parse(String, String)}; {@code strictKeys} false lets a key given twice keep its last
   * value (mounts.d files, which parsed so before: refusing one now would unmount a live mount).
   */
  public static YamlTree parse(String source, String yaml, boolean strictKeys) throws ModelCacheException {
    Map<String, Value> out = new LinkedHashMap<>();
    try (JsonParser p = new YAMLFactory().createParser(yaml)) {
      JsonToken t = p.nextToken();
      if (t == null) {
        return new YamlTree(source, out);
      }
      if (t != JsonToken.START_OBJECT) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE,
            source + " line " + p.currentLocation().getLineNr() + ": expected a mapping of keys to values");
      }
      readObject(p, "", out, source, strictKeys);
    } catch (ModelCacheException e) {
      throw e;
    } catch (IOException e) {
      String msg = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
      int line = e instanceof com.fasterxml.jackson.core.JsonProcessingException jpe && jpe.getLocation() != null
          ? jpe.getLocation().getLineNr() : 0;
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          source + (line > 0 ? " line " + line : "") + ": not valid YAML: " + msg);
    }
    return new YamlTree(source, out);
  }

  private static void readObject(JsonParser p, String prefix, Map<String, Value> out, String source, boolean strict)
      throws IOException {
    Map<String, Integer> seen = new HashMap<>(); // a key given twice is a mistake, not "the last one wins"
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String key = prefix + p.currentName();
      int line = p.currentLocation().getLineNr();
      Integer first = seen.putIfAbsent(p.currentName(), line);
      if (first != null && strict) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE,
            source + " line " + line + ": " + key + ": given twice (first on line " + first + ")");
      }
      JsonToken v = p.nextToken();
      if (v == JsonToken.START_OBJECT) {
        readObject(p, key + ".", out, source, strict);
      } else if (v == JsonToken.START_ARRAY) {
        List<String> scalars = new ArrayList<>();
        boolean mappings = false;
        int i = 0;
        JsonToken e;
        while ((e = p.nextToken()) != JsonToken.END_ARRAY) {
          if (e == JsonToken.START_OBJECT) {
            mappings = true;
            readObject(p, key + "." + i + ".", out, source, strict);
          } else if (e == JsonToken.START_ARRAY) {
            throw new ModelCacheException(ModelCacheException.Kind.USAGE,
                source + " line " + p.currentLocation().getLineNr() + ": " + key + ": nested lists are not supported");
          } else {
            scalars.add(p.getText());
          }
          i++;
        }
        if (mappings && !scalars.isEmpty()) {
          throw new ModelCacheException(ModelCacheException.Kind.USAGE,
              source + " line " + line + ": " + key + ": mixes values and mappings in one list");
        }
        if (!mappings) {
          out.put(key, new Value(List.copyOf(scalars), line));
        }
      } else if (v == JsonToken.VALUE_NULL) {
        out.put(key, new Value("", line));
      } else {
        out.put(key, new Value(p.getText(), line));
      }
    }
  }

  public String source() {
    return source;
  }

  public Map<String, Value> values() {
    return values;
  }

  /** An error about {@code key}, naming the file and line. */
  public ModelCacheException error(String key, String what) {
    Value v = values.get(key);
    return new ModelCacheException(ModelCacheException.Kind.USAGE,
        source + (v != null ? " line " + v.line() : "") + ": " + key + ": " + what);
  }
}
