package io.modelcache.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {
  @Test
  void medianOfOddEvenAndEmpty() {
    assertEquals(2.0, Report.median(List.of(3.0, 1.0, 2.0)));
    assertEquals(2.5, Report.median(List.of(4.0, 1.0, 2.0, 3.0)));
    assertTrue(Double.isNaN(Report.median(List.of())));
  }

  @Test
  void formatsBySize() {
    assertEquals("1234", Report.fmt(1234.4));
    assertEquals("12.3", Report.fmt(12.34));
    assertEquals("1.23", Report.fmt(1.234));
    assertEquals("0.123", Report.fmt(0.1234));
    assertEquals("n/a", Report.fmt(Double.NaN));
  }

  @Test
  void markdownAndCsvCarryRatioTargetAndVerdict() {
    Report r = new Report();
    r.add("cold", "sequential, dd", List.of(0.5, 0.7, 0.6), "GB/s", "network", 0.6, "≥ 0.9×", false);
    String md = r.markdown("T", List.of("- h"));
    assertTrue(md.contains("| cold | sequential, dd | 0.600 | GB/s | 3 | network | 0.600× | ≥ 0.9× | **no** |"), md);
    assertEquals("step,figure,median,unit,samples,versus,ratio,target,met\n"
        + "cold,\"sequential, dd\",0.6,GB/s,0.5;0.7;0.6,network,0.6,≥ 0.9×,false\n", r.csv());
  }

  @Test
  void aFigureNotMeasuredInThisRunHasNoVerdict() {
    Report r = new Report();
    r.add("cold", "sequential, dd", List.of(), "GB/s", "network", Double.NaN, "≥ 0.9×", false);
    r.add("cold", "loader vs network", List.of(3.0), "s", "network time", Double.NaN, "≤ 1.1×", false);
    r.add("cold", "headers", List.of(60.0), "ms", null, null, "< 50 ms", false);
    assertEquals(java.util.Arrays.asList(null, null, false), r.rows.stream().map(Report.Row::met).toList());
  }

  @Test
  void chartWritesAPng(@TempDir Path dir) throws Exception {
    Path png = dir.resolve("c.png");
    Chart.write(png, "t", List.of(new Chart.Series("a", java.awt.Color.RED,
        List.of(new double[] {0, 0}, new double[] {1.5, 3e9}))));
    byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(png), 4);
    assertEquals("\u0089PNG", new String(head, java.nio.charset.StandardCharsets.ISO_8859_1));
    assertEquals(2.5, Chart.niceCeil(2.2));
    assertEquals(5.0, Chart.niceCeil(3));
  }
}
