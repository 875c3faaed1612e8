package io.modelcache.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Draws step curves of bytes available to the loader over time into a PNG (Java2D, headless). */
final class Chart {
  private Chart() {}

  /** A named curve of {@code (seconds, bytes)} points, in time order. */
  record Series(String name, Color color, List<double[]> points) {}

  static void write(Path png, String title, List<Series> series) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int w = 960;
    int h = 540;
    int left = 80;
    int right = 30;
    int top = 50;
    int bottom = 60;
    double maxT = 0;
    double maxB = 0;
    for (Series s : series) {
      for (double[] p : s.points()) {
        maxT = Math.max(maxT, p[0]);
        maxB = Math.max(maxB, p[1]);
      }
    }
    maxT = niceCeil(Math.max(maxT, 1e-3));
    double gib = maxB / (1 << 30);
    double maxG = niceCeil(Math.max(gib, 1e-3));
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, w, h);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
      g.setColor(Color.BLACK);
      g.drawString(title, left, 30);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
      int pw = w - left - right;
      int ph = h - top - bottom;
      for (int i = 0; i <= 5; i++) {
        int x = left + pw * i / 5;
        int y = top + ph - ph * i / 5;
        g.setColor(new Color(230, 230, 230));
        g.drawLine(x, top, x, top + ph);
        g.drawLine(left, y, left + pw, y);
        g.setColor(Color.DARK_GRAY);
        g.drawString(String.format(Locale.ROOT, "%.1f", maxT * i / 5), x - 10, top + ph + 18);
        g.drawString(String.format(Locale.ROOT, "%.2f", maxG * i / 5), left - 45, y + 4);
      }
      g.setColor(Color.BLACK);
      g.drawRect(left, top, pw, ph);
      g.drawString("seconds since the command started", left + pw / 2 - 100, h - 20);
      g.rotate(-Math.PI / 2);
      g.drawString("GiB the loader has read", -(top + ph / 2 + 70), 25);
      g.rotate(Math.PI / 2);
      int ly = top + 20;
      for (Series s : series) {
        g.setColor(s.color());
        g.setStroke(new BasicStroke(2.5f));
        int px = -1;
        int py = -1;
        for (double[] p : s.points()) {
          int x = left + (int) Math.round(pw * p[0] / maxT);
          int y = top + ph - (int) Math.round(ph * (p[1] / (1 << 30)) / maxG);
          if (px >= 0) {
            g.drawLine(px, py, x, py); // step: bytes stay until the next point
            g.drawLine(x, py, x, y);
          }
          px = x;
          py = y;
        }
        g.fillRect(left + 15, ly - 9, 18, 10);
        g.setColor(Color.BLACK);
        g.drawString(s.name(), left + 40, ly);
        ly += 18;
      }
    } finally {
      g.dispose();
    }
    ImageIO.write(img, "png", png.toFile());
  }

  /** 1, 2, 2.5, 5 × 10^k at or above v. */
  static double niceCeil(double v) {
    double p = Math.pow(10, Math.floor(Math.log10(v)));
    for (double m : new double[] {1, 2, 2.5, 5, 10}) {
      if (m * p >= v) {
        return m * p;
      }
    }
    return 10 * p;
  }
}
