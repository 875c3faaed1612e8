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
  @Parameters(index = "0", paramLabel = "DIR")
  Path dir;

  @Option(names = "--size", defaultValue = "64M", description = "Total weight bytes (default: ${DEFAULT-VALUE}).")
  String size;

  @Option(names = "--shards", defaultValue = "2")
  int shards;

  @Option(names = "--dtype", defaultValue = "BF16")
  String dtype;

  @Option(names = "--layers", defaultValue = "8")
  int layers;

  @Option(names = "--seed", defaultValue = "42")
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
