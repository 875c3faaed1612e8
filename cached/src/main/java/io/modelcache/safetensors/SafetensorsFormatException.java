package io.modelcache.safetensors;

/** A safetensors file whose header breaks the format; the message starts with "malformed safetensors: ". */
public final class SafetensorsFormatException extends Exception {
  private static final long serialVersionUID = 1L;

  public SafetensorsFormatException(String cause) {
    super("malformed safetensors: " + cause);
  }
}
