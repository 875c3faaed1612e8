package io.modelcache.modelpack;

/** A tar header that cannot be parsed; the message is a short cause for a one-line error. */
public final class TarFormatException extends Exception {
  private static final long serialVersionUID = 1L;

  public TarFormatException(String message) {
    super(message);
  }
}
