package io.modelcache.cli;

/** Entry point of the {@code modelcache} command. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println("modelcache: not yet");
  }
}
