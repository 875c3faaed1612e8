package io.modelcache.registry;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** One HTTP request: method, absolute URI, headers and an optional re-openable body. */
record HttpCall(String method, URI uri, List<Map.Entry<String, String>> headers, Body body) {
  /** A request body of known length; {@link #open} may be called again for a retry. */
  interface Body {
    long length();

    InputStream open() throws IOException;
  }

  HttpCall {
    headers = List.copyOf(headers);
  }

  static HttpCall of(String method, URI uri) {
    return new HttpCall(method, uri, List.of(), null);
  }

  HttpCall header(String name, String value) {
    List<Map.Entry<String, String>> h = new ArrayList<>(headers);
    h.removeIf(e -> e.getKey().equalsIgnoreCase(name));
    if (value != null) {
      h.add(Map.entry(name, value));
    }
    return new HttpCall(method, uri, h, body);
  }

  HttpCall withUri(URI u) {
    return new HttpCall(method, u, headers, body);
  }

  HttpCall withBody(Body b) {
    return new HttpCall(method, uri, headers, b);
  }

  static Body bytes(byte[] b) {
    return new Body() {
      @Override
      public long length() {
        return b.length;
      }

      @Override
      public InputStream open() {
        return new java.io.ByteArrayInputStream(b);
      }
    };
  }
}
