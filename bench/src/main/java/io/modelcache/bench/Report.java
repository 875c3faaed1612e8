package io.modelcache.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** The result table of one run, written as Markdown and CSV. Not thread-safe. */
final class Report {
  /**
   * One figure: its median over {@code samples}, optionally a ratio to a limit (or another figure)
   * and the target that ratio is held to ({@code met} null when there is no target).
   */
  record Row(String step, String figure, double value, String unit, List<Double> samples,
      String versus, Double ratio, String target, Boolean met) {}

  final List<Row> rows = new ArrayList<>();
  final List<String> notes = new ArrayList<>();

  void add(String step, String figure, List<Double> samples, String unit, String versus, Double ratio,
      String target, Boolean met) {
    // Not measured in this run (a step left out, or its baseline): no verdict either way.
    Boolean verdict = samples.isEmpty() || ratio != null && ratio.isNaN() ? null : met;
    rows.add(new Row(step, figure, median(samples), unit, List.copyOf(samples), versus, ratio, target, verdict));
  }

  static double median(List<Double> xs) {
    if (xs.isEmpty()) {
      return Double.NaN;
    }
    List<Double> s = xs.stream().sorted().toList();
    int n = s.size();
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }

  static String fmt(double v) {
    if (Double.isNaN(v)) {
      return "n/a";
    }
    double a = Math.abs(v);
    return String.format(Locale.ROOT, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", v);
  }

  String markdown(String title, List<String> header) {
    StringBuilder b = new StringBuilder("# ").append(title).append("\n\n");
    header.forEach(h -> b.append(h).append('\n'));
    b.append("\n| step | figure | median | unit | runs | vs | ratio | target | met |\n")
        .append("|---|---|---:|---|---:|---|---:|---|---|\n");
    for (Row r : rows) {
      b.append("| ").append(r.step()).append(" | ").append(r.figure()).append(" | ").append(fmt(r.value()))
          .append(" | ").append(r.unit()).append(" | ").append(r.samples().size()).append(" | ")
          .append(r.versus() == null ? "" : r.versus()).append(" | ")
          .append(r.ratio() == null ? "" : fmt(r.ratio()) + "×").append(" | ")
          .append(r.target() == null ? "" : r.target()).append(" | ")
          .append(r.met() == null ? "" : r.met() ? "yes" : "**no**").append(" |\n");
    }
    if (!notes.isEmpty()) {
      b.append('\n');
      notes.forEach(n -> b.append("- ").append(n).append('\n'));
    }
    return b.toString();
  }

  String csv() {
    StringBuilder b = new StringBuilder("step,figure,median,unit,samples,versus,ratio,target,met\n");
    for (Row r : rows) {
      b.append(c(r.step())).append(',').append(c(r.figure())).append(',').append(r.value()).append(',')
          .append(c(r.unit())).append(',')
          .append(c(r.samples().stream().map(String::valueOf).collect(Collectors.joining(";")))).append(',')
          .append(c(r.versus() == null ? "" : r.versus())).append(',')
          .append(r.ratio() == null ? "" : r.ratio()).append(',')
          .append(c(r.target() == null ? "" : r.target())).append(',')
          .append(r.met() == null ? "" : r.met()).append('\n');
    }
    return b.toString();
  }

  private static String c(String s) {
    return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
  }

  void write(Path dir, String title, List<String> header) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("results.md"), markdown(title, header));
    Files.writeString(dir.resolve("results.csv"), csv());
  }
}
