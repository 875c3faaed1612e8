package io.modelcache.modelpack;

import java.util.List;
import java.util.Locale;

/**
 * Which ModelPack kind a file is, by name, as modctl decides it (pkg/modelfile: config patterns, then
 * model, then code, then doc patterns, case-insensitive, on the base name). Well-known Hugging Face
 * tokenizer and config names are checked first so that e.g. {@code merges.txt} is weight config, not a
 * doc. modctl refuses unrecognized files; we return OTHER and let the caller decide.
 */
public final class FileClassifier {
  private FileClassifier() {}

  /** Exact names (and name globs) that are always weight config, checked first. */
  static final List<String> WEIGHT_CONFIG_NAMES = List.of(
      "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
      "special_tokens_map.json", "added_tokens.json", "preprocessor_config.json",
      "model.safetensors.index.json", "pytorch_model.bin.index.json", "merges.txt", "tokenizer.model",
      "vocab.*", "*.tiktoken", "*tokenizer.model*", "config.json.*");

  /** modctl's configFilePatterns. */
  static final List<String> CONFIG = List.of(
      "*.json", "*.jsonl", "*.json5", "*.jsonc", "*.yaml", "*.yml", "*.toml", "*.ini", "*.config", "*.cfg",
      "*.conf", "*.properties", "*.props", "*.prop", "*.xml", "*.xsd", "*.rng", "*.modelcard", "*.meta",
      "*.hparams", "*.params", "*.hyperparams", "*.wandb", "*.mlflow", "*.tensorboard");

  /** modctl's modelFilePatterns. */
  static final List<String> WEIGHT = List.of(
      "*.safetensors", "*.bin", "*.pt", "*.pth", "*.mar", "*.pte", "*.pt2", "*.ptl", "*.tflite", "*.h5",
      "*.hdf", "*.hdf5", "*.pb", "*.data-*", "*.index", "*.gguf", "*.ggml", "*.ggmf", "*.ggjt", "*.q4_0",
      "*.q4_1", "*.q5_0", "*.q5_1", "*.q8_0", "*.f16", "*.f32", "*.ckpt", "*.checkpoint", "*.dist_ckpt",
      "*.tensor", "*.weights", "*.state", "*.embedding", "*.vocab", "*.ot", "*.engine", "*.trt", "*.onnx",
      "*.msgpack", "*.model", "*.pkl", "*.pickle", "*.keras", "*.joblib", "*.npy", "*.npz", "*.nc",
      "*.mlmodel", "*.coreml", "*.mleap", "*.surml", "*.llamafile", "*.caffemodel", "*.prototxt", "*.dlc",
      "*.circle", "*.nb");

  /** modctl's codeFilePatterns (the common ones). */
  static final List<String> CODE = List.of(
      "*.py", "*.ipynb", "*.sh", "*.bash", "*.zsh", "*.patch", "*.c", "*.h", "*.cc", "*.cpp", "*.cxx",
      "*.hpp", "*.hh", "*.cu", "*.cuh", "*.java", "*.js", "*.mjs", "*.cjs", "*.ts", "*.tsx", "*.jsx",
      "*.go", "*.rs", "*.swift", "*.rb", "*.php", "*.scala", "*.kt", "*.r", "*.m", "*.jl", "*.lua", "*.pl",
      "*.cs", "*.sql", "*.zig", "*.ps1", "*.bat", "*.cmd", "makefile*", "dockerfile*", "*.dockerfile",
      "*.mk", "*.cmake", "cmakelists.txt", "*.gradle", "*.bazel", "*.bzl", "requirements*.txt",
      "pyproject.toml", "setup.cfg", "cargo.toml", "go.mod", "go.sum", "package.json", "*.so", "*.dll",
      "*.dylib", "*.a", "*.lib");

  /** modctl's docFilePatterns (the common ones). */
  static final List<String> DOC = List.of(
      "*.txt", "*.md", "*.pdf", "license*", "readme*", "setup*", "*requirements*", "*.log", "*.rst",
      "*.html", "*.htm", "*.xml", "*.tex", "*.adoc", "*.doc", "*.docx", "*.csv", "*.jpg", "*.jpeg",
      "*.png", "*.gif", "*.bmp", "*.tiff", "*.ico", "*.webp", "*.svg", "*.mp4");

  /** Names modctl skips while walking (hidden entries are skipped separately). */
  static final List<String> SKIP = List.of("modelfile", "__pycache__", "*.pyc", "*.pyo", "*.pyd");

  /** The kind of a file by its path (only the base name matters). */
  public static FileKind classify(String path) {
    String name = baseName(path).toLowerCase(Locale.ROOT);
    if (matchesAny(name, WEIGHT_CONFIG_NAMES)) {
      return FileKind.WEIGHT_CONFIG;
    }
    // modctl's order: code before doc so that requirements.txt and CMakeLists.txt are code.
    if (matchesAny(name, CONFIG)) {
      return FileKind.WEIGHT_CONFIG;
    }
    if (matchesAny(name, WEIGHT)) {
      return FileKind.WEIGHT;
    }
    if (matchesAny(name, CODE)) {
      return FileKind.CODE;
    }
    if (matchesAny(name, DOC)) {
      return FileKind.DOC;
    }
    return FileKind.OTHER;
  }

  /** True for names a directory walk skips: hidden ones, the Modelfile, Python caches. */
  public static boolean skipped(String name) {
    return name.startsWith(".") || matchesAny(name.toLowerCase(Locale.ROOT), SKIP);
  }

  static String baseName(String path) {
    int s = path.lastIndexOf('/');
    return s < 0 ? path : path.substring(s + 1);
  }

  static boolean matchesAny(String name, List<String> patterns) {
    for (String p : patterns) {
      if (glob(p, 0, name, 0)) {
        return true;
      }
    }
    return false;
  }

  /** Minimal glob: {@code *} (any run) and {@code ?} (one character); everything else literal. */
  static boolean glob(String p, int pi, String s, int si) {
    while (pi < p.length()) {
      char c = p.charAt(pi);
      if (c == '*') {
        for (int k = si; k <= s.length(); k++) {
          if (glob(p, pi + 1, s, k)) {
            return true;
          }
        }
        return false;
      }
      if (si >= s.length() || (c != '?' && c != s.charAt(si))) {
        return false;
      }
      pi++;
      si++;
    }
    return si == s.length();
  }
}
