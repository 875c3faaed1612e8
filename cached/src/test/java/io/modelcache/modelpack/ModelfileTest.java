package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelfileTest {
  @Test
  void parsesModctlExample() throws Exception {
    Modelfile m = Modelfile.parse("""
        # Model name (string)
        NAME gemma-2b

        ARCH transformer
        FAMILY gemma
        FORMAT safetensors
        PARAMSIZE 16
        PRECISION bf16
        QUANTIZATION awq
        CONFIG config.json
        CONFIG generation_config.json
        CONFIG config.json
        MODEL *.safetensors
        CODE *.py
        doc README.md
        DATASET data/*.csv
        """);
    assertEquals("gemma-2b", m.name());
    assertEquals("transformer", m.arch());
    assertEquals("gemma", m.family());
    assertEquals("safetensors", m.format());
    assertEquals("16", m.paramSize());
    assertEquals("bf16", m.precision());
    assertEquals("awq", m.quantization());
    assertEquals(List.of("config.json", "generation_config.json"), m.configs());
    assertEquals(List.of("*.safetensors"), m.models());
    assertEquals(FileKind.WEIGHT, m.kindOf("model-00001-of-00002.safetensors"));
    assertNull(m.kindOf("sub/model.safetensors"));
    assertEquals(FileKind.DATASET, m.kindOf("data/train.csv"));
    assertEquals(FileKind.DOC, m.kindOf("README.md"));
    assertEquals(FileKind.WEIGHT_CONFIG, m.kindOf("config.json"));
    assertNull(m.kindOf("tokenizer.json"));
  }

  @Test
  void errorsCarryLineNumbers() {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> Modelfile.parse("NAME a\n\nFOO bar\n"));
    assertEquals("Modelfile line 3: unknown command 'FOO'", e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    assertEquals("Modelfile line 2: duplicate NAME",
        assertThrows(ModelCacheException.class, () -> Modelfile.parse("NAME a\nNAME b")).getMessage());
    assertEquals("Modelfile line 1: MODEL needs a value",
        assertThrows(ModelCacheException.class, () -> Modelfile.parse("MODEL   ")).getMessage());
  }
}
