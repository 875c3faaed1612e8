package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FileClassifierTest {
  private static void is(FileKind k, String... names) {
    for (String n : names) {
      assertEquals(k, FileClassifier.classify(n), n);
    }
  }

  @Test
  void table() {
    is(FileKind.WEIGHT, "model.safetensors", "sub/model-00001-of-00002.safetensors", "pytorch_model.bin",
        "model.gguf", "x.pt", "x.pth", "x.ckpt", "model.onnx", "tf_model.h5", "flax_model.msgpack", "Model.SAFETENSORS");
    is(FileKind.WEIGHT_CONFIG, "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "cl100k.tiktoken", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model",
        "model.safetensors.index.json", "params.yaml", "foo.json");
    is(FileKind.DOC, "README.md", "LICENSE", "LICENSE.txt", "notes.txt", "README", "USE_POLICY.md", "figure.png");
    is(FileKind.CODE, "modeling_llama.py", "run.sh", "requirements.txt", "Dockerfile", "demo.ipynb");
    is(FileKind.OTHER, "weird.xyz", "noext");
  }

  @Test
  void skips() {
    assertTrue(FileClassifier.skipped(".git"));
    assertTrue(FileClassifier.skipped("Modelfile"));
    assertTrue(FileClassifier.skipped("__pycache__"));
    assertTrue(FileClassifier.skipped("x.pyc"));
    assertFalse(FileClassifier.skipped("config.json"));
  }

  @Test
  void mediaTypes() {
    assertEquals("application/vnd.cncf.model.weight.config.v1.raw", FileKind.WEIGHT_CONFIG.layerMediaType(LayerFormat.RAW));
    assertEquals("application/vnd.cncf.model.weight.v1.tar", FileKind.WEIGHT.layerMediaType(LayerFormat.TAR));
    assertEquals(FileKind.WEIGHT_CONFIG, FileKind.ofMediaType("application/vnd.cnai.model.weight.config.v1.tar"));
    assertEquals(FileKind.DATASET, FileKind.ofMediaType("application/vnd.cncf.model.dataset.v1.tar+zstd"));
    assertEquals(LayerFormat.TAR_ZSTD, LayerFormat.ofMediaType("application/vnd.cncf.model.dataset.v1.tar+zstd"));
    assertEquals(LayerFormat.TAR_GZIP, LayerFormat.ofMediaType("application/vnd.cncf.model.doc.v1.tar+gzip"));
    assertEquals(LayerFormat.RAW, LayerFormat.ofMediaType("application/vnd.cncf.model.doc.v1.raw"));
  }
}
