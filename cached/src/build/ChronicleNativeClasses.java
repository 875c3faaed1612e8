import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.tools.ToolProvider;

/**
 * Build step (cached/pom.xml, process-classes): compiles, at build time, the value classes Chronicle
 * Map would otherwise generate and compile with javac each time a daemon opens its cache index.
 *
 * <p>Why: opening a Chronicle Map asks chronicle-values for {@code VanillaGlobalMutableState$$Native}
 * (the map's header state). chronicle-values first tries to load that class, and only when it is
 * missing writes its source and runs javac in the daemon: about 1,150 javac classes, 0.9 s and 1.6
 * CPU-s of every daemon start on a 2-vCPU machine (measured 2026-12-07: opening a map and one put,
 * 0.63-0.94 s with the class present against 1.52-1.85 s without). Generating the same source here,
 * with the same pinned library, and compiling it into the module's classes makes that load succeed.
 *
 * <p>Usage: {@code java -cp CLASSPATH ChronicleNativeClasses.java SRC_DIR CLASSES_DIR INTERFACE...}.
 * The source comes from chronicle-values' own generator ({@code Generators.generateNativeClass},
 * package-private, so reached by reflection): a library upgrade that moves it fails the build here,
 * in one line, rather than at a daemon's start.
 */
public final class ChronicleNativeClasses {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      throw new IllegalArgumentException("usage: ChronicleNativeClasses SRC_DIR CLASSES_DIR INTERFACE...");
    }
    Path srcDir = Path.of(args[0]);
    Path classesDir = Path.of(args[1]);
    Class<?> model = Class.forName("net.openhft.chronicle.values.ValueModel");
    Method acquire = model.getMethod("acquire", Class.class);
    Method simpleName = model.getDeclaredMethod("simpleName");
    simpleName.setAccessible(true);
    Method generate = Class.forName("net.openhft.chronicle.values.Generators")
        .getDeclaredMethod("generateNativeClass", model, String.class);
    generate.setAccessible(true);
    String nativeSuffix = (String) model.getField("$$NATIVE").get(null);

    List<String> sources = new ArrayList<>();
    for (int i = 2; i < args.length; i++) {
      Class<?> valueType = Class.forName(args[i]);
      Object vm = acquire.invoke(null, valueType);
      String name = simpleName.invoke(vm) + nativeSuffix;
      String source = (String) generate.invoke(null, vm, name);
      Path file = srcDir.resolve(valueType.getPackageName().replace('.', '/')).resolve(name + ".java");
      Files.createDirectories(file.getParent());
      Files.writeString(file, source);
      sources.add(file.toString());
    }
    List<String> javac = new ArrayList<>(List.of("--release", "25", "-nowarn", "-proc:none", "-encoding", "UTF-8",
        "-cp", System.getProperty("java.class.path"), "-d", classesDir.toString()));
    javac.addAll(sources);
    int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, javac.toArray(String[]::new));
    if (rc != 0) {
      throw new IllegalStateException("javac failed (" + rc + ") on " + sources);
    }
    System.out.println("compiled " + sources.size() + " Chronicle value class(es) into " + classesDir);
  }
}
