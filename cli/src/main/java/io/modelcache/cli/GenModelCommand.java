package io.modelcache.cli;

import io.modelcache.config.Sizes;
import io.modelcache.safetensors.SyntheticModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache gen-model DIR}: a deterministic synthetic safetensors model, for demos and tests. */
@Command(name = "gen-model", description = "Generate a deterministic synthetic safetensors model (for demos, tests, benchmarks).")
final class GenModelCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "DIR", description = "Directory to write the model into (created if missing; files of the same names are overwritten).")
  Path dir;

  @Option(names = "--size", defaultValue = "64M", paramLabel = "BYTES", description = "Total weight bytes (default: ${DEFAULT-VALUE}).")
  String size;

  @Option(names = "--shards", defaultValue = "2", paramLabel = "N",
      description = "Number of *.safetensors shards, with a model.safetensors.index.json (default: ${DEFAULT-VALUE}).")
  int shards;

  @Option(names = "--dtype", defaultValue = "BF16", paramLabel = "DTYPE",
      description = "Tensor element type: BF16, F16 or F32 (default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(names = "--layers", defaultValue = "8", paramLabel = "N",
      description = "Number of transformer layers the tensor names describe (default: ${DEFAULT-VALUE}).")
  int layers;

  @Option(names = "--seed", defaultValue = "42", paramLabel = "N",
      description = "Seed of the generator: the same seed and options give the same bytes (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() throws Exception {
    SyntheticModel.Spec spec;
    try {
      spec = new SyntheticModel.Spec(Sizes.parse("size", size), shards, dtype, layers, seed);
    } catch (IllegalArgumentException e) {
      throw new io.modelcache.error.ModelCacheException(io.modelcache.error.ModelCacheException.Kind.USAGE, e.getMessage());
    }
    SyntheticModel.generate(dir, spec);
    System.out.println("generated " + dir + " (" + size + ", " + shards + " shards, " + dtype + ", " + layers + " layers)");
    return 0;
  }
}
