package io.modelcache.modelpack;

import io.modelcache.error.ModelCacheException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A modctl Modelfile: one {@code COMMAND value} per line, {@code #} comments and blank lines ignored,
 * commands case-insensitive. Scalar commands (NAME, ARCH, FAMILY, FORMAT, PARAMSIZE, PRECISION,
 * QUANTIZATION) may appear once; CONFIG, MODEL, CODE, DOC and DATASET take a glob relative to the
 * model directory ({@code *} does not cross {@code /}) and may repeat (duplicates are dropped, order
 * kept). Null fields were not given.
 */
public record Modelfile(
    String name,
    String arch,
    String family,
    String format,
    String paramSize,
    String precision,
    String quantization,
    List<String> configs,
    List<String> models,
    List<String> codes,
    List<String> docs,
    List<String> datasets,
    String text) {
  public Modelfile {
    configs = List.copyOf(configs);
    models = List.copyOf(models);
    codes = List.copyOf(codes);
    docs = List.copyOf(docs);
    datasets = List.copyOf(datasets);
  }

  /** Parses; errors are USAGE {@code "Modelfile line N: <cause>"}. */
  public static Modelfile parse(String text) throws ModelCacheException {
    String[] scalars = new String[7];
    List<String> names = List.of("NAME", "ARCH", "FAMILY", "FORMAT", "PARAMSIZE", "PRECISION", "QUANTIZATION");
    List<Set<String>> globs = new ArrayList<>();
    List<String> globNames = List.of("CONFIG", "MODEL", "CODE", "DOC", "DATASET");
    for (int i = 0; i < 5; i++) {
      globs.add(new LinkedHashSet<>());
    }
    String[] lines = text.split("\r?\n", -1);
    for (int n = 0; n < lines.length; n++) {
      String line = lines[n].strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int sp = 0;
      while (sp < line.length() && !Character.isWhitespace(line.charAt(sp))) {
        sp++;
      }
      String cmd = line.substring(0, sp).toUpperCase(Locale.ROOT);
      String value = line.substring(sp).strip();
      int si = names.indexOf(cmd);
      int gi = globNames.indexOf(cmd);
      if (si < 0 && gi < 0) {
        throw error(n, "unknown command '" + line.substring(0, sp) + "'");
      }
      if (value.isEmpty()) {
        throw error(n, cmd + " needs a value");
      }
      if (si >= 0) {
        if (scalars[si] != null) {
          throw error(n, "duplicate " + cmd);
        }
        scalars[si] = value;
      } else {
        globs.get(gi).add(value);
      }
    }
    return new Modelfile(scalars[0], scalars[1], scalars[2], scalars[3], scalars[4], scalars[5], scalars[6],
        new ArrayList<>(globs.get(0)), new ArrayList<>(globs.get(1)), new ArrayList<>(globs.get(2)),
        new ArrayList<>(globs.get(3)), new ArrayList<>(globs.get(4)), text);
  }

  private static ModelCacheException error(int line, String why) {
    return new ModelCacheException(ModelCacheException.Kind.USAGE, "Modelfile line " + (line + 1) + ": " + why);
  }

  /** The kind a Modelfile assigns to {@code path} (first matching command in CONFIG, MODEL, CODE, DOC, DATASET order), or null. */
  public FileKind kindOf(String path) {
    if (matches(configs, path)) {
      return FileKind.WEIGHT_CONFIG;
    }
    if (matches(models, path)) {
      return FileKind.WEIGHT;
    }
    if (matches(codes, path)) {
      return FileKind.CODE;
    }
    if (matches(docs, path)) {
      return FileKind.DOC;
    }
    if (matches(datasets, path)) {
      return FileKind.DATASET;
    }
    return null;
  }

  private static boolean matches(List<String> globs, String path) {
    for (String g : globs) {
      String p = g.startsWith("./") ? g.substring(2) : g;
      if (globPath(p, path)) {
        return true;
      }
    }
    return false;
  }

  /** Segment-wise glob: {@code *} and {@code ?} within a segment, like Go's filepath.Match. */
  static boolean globPath(String pattern, String path) {
    String[] ps = pattern.split("/", -1);
    String[] xs = path.split("/", -1);
    if (ps.length != xs.length) {
      return false;
    }
    for (int i = 0; i < ps.length; i++) {
      if (!FileClassifier.glob(ps[i], 0, xs[i], 0)) {
        return false;
      }
    }
    return true;
  }
}
