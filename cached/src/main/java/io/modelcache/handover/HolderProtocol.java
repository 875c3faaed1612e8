package io.modelcache.handover;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The holder's messages, one per SOCK_SEQPACKET packet, UTF-8 lines. A request's first line is
 * {@code PUT name}, {@code GET name}, {@code DROP name} or {@code LIST}; a PUT carries one
 * descriptor and {@code key=value} lines after the first. A reply is {@code OK} followed by one line
 * per entry ({@code name<TAB>key=value<TAB>...}; a GET's reply carries the entry's descriptor), or
 * {@code ERR message}. Names are what systemd accepts as an FDNAME too, so one name serves both
 * keepers. Pure: no I/O, every malformed message is a {@link ProtocolException}.
 */
public final class HolderProtocol {
  /** The largest message either side sends or accepts. */
  public static final int MAX_MESSAGE = 64 * 1024;
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");
  private static final Pattern KEY = Pattern.compile("[A-Za-z][A-Za-z0-9.]{0,31}");
  private static final int MAX_VALUE = 4096;

  private HolderProtocol() {}

  public enum Op { PUT, GET, DROP, LIST }

  /** A request; {@code name} is null for LIST, {@code meta} empty except for PUT. */
  public record Request(Op op, String name, Map<String, String> meta) {
    public Request {
      meta = Map.copyOf(meta);
    }

    public static Request put(String name, Map<String, String> meta) {
      return new Request(Op.PUT, name, meta);
    }

    public static Request get(String name) {
      return new Request(Op.GET, name, Map.of());
    }

    public static Request drop(String name) {
      return new Request(Op.DROP, name, Map.of());
    }

    public static Request list() {
      return new Request(Op.LIST, null, Map.of());
    }
  }

  /** One held descriptor as the holder describes it. */
  public record Entry(String name, Map<String, String> meta) {
    public Entry {
      meta = Map.copyOf(meta);
    }
  }

  /** A reply: ok with entries, or an error message. */
  public record Reply(boolean ok, String error, List<Entry> entries) {
    public Reply {
      entries = List.copyOf(entries);
    }

    public static Reply ok(List<Entry> entries) {
      return new Reply(true, null, entries);
    }

    public static Reply error(String message) {
      return new Reply(false, message, List.of());
    }
  }

  /** A message that is not one of the above. */
  public static final class ProtocolException extends Exception {
    public ProtocolException(String message) {
      super(message);
    }
  }

  /** Whether {@code name} may name a held descriptor. */
  public static boolean validName(String name) {
    return name != null && NAME.matcher(name).matches();
  }

  public static byte[] encode(Request r) {
    StringBuilder b = new StringBuilder(r.op().name());
    if (r.op() != Op.LIST) {
      b.append(' ').append(checkName(r.name()));
    }
    if (r.op() == Op.PUT) {
      appendMeta(b, r.meta(), '\n');
    } else if (!r.meta().isEmpty()) {
      throw new IllegalArgumentException(r.op() + " carries no metadata");
    }
    return bytes(b);
  }

  public static Request decodeRequest(byte[] msg) throws ProtocolException {
    String[] lines = lines(msg);
    String first = lines[0];
    int sp = first.indexOf(' ');
    String word = sp < 0 ? first : first.substring(0, sp);
    Op op;
    try {
      op = Op.valueOf(word);
    } catch (IllegalArgumentException e) {
      throw new ProtocolException("unknown request '" + clip(word) + "'");
    }
    if (op == Op.LIST) {
      if (sp >= 0 || lines.length > 1) {
        throw new ProtocolException("LIST takes nothing");
      }
      return Request.list();
    }
    String name = sp < 0 ? "" : first.substring(sp + 1);
    if (!validName(name)) {
      throw new ProtocolException(op + ": bad name '" + clip(name) + "'");
    }
    Map<String, String> meta = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      if (op != Op.PUT) {
        throw new ProtocolException(op + " carries no metadata");
      }
      parseMeta(lines[i], meta);
    }
    return new Request(op, name, meta);
  }

  public static byte[] encode(Reply r) {
    if (!r.ok()) {
      return bytes(new StringBuilder("ERR ").append(r.error().replace('\n', ' ').replace('\t', ' ')));
    }
    StringBuilder b = new StringBuilder("OK");
    for (Entry e : r.entries()) {
      b.append('\n').append(checkName(e.name()));
      appendMeta(b, e.meta(), '\t');
    }
    return bytes(b);
  }

  public static Reply decodeReply(byte[] msg) throws ProtocolException {
    String[] lines = lines(msg);
    if (lines[0].startsWith("ERR ")) {
      if (lines.length > 1) {
        throw new ProtocolException("an error reply is one line");
      }
      return Reply.error(lines[0].substring(4));
    }
    if (!lines[0].equals("OK")) {
      throw new ProtocolException("reply is neither OK nor ERR: '" + clip(lines[0]) + "'");
    }
    List<Entry> entries = new ArrayList<>();
    for (int i = 1; i < lines.length; i++) {
      String[] fields = lines[i].split("\t", -1);
      if (!validName(fields[0])) {
        throw new ProtocolException("bad entry name '" + clip(fields[0]) + "'");
      }
      Map<String, String> meta = new LinkedHashMap<>();
      for (int f = 1; f < fields.length; f++) {
        parseMeta(fields[f], meta);
      }
      entries.add(new Entry(fields[0], meta));
    }
    return Reply.ok(entries);
  }

  private static void appendMeta(StringBuilder b, Map<String, String> meta, char sep) {
    for (Map.Entry<String, String> m : new java.util.TreeMap<>(meta).entrySet()) {
      String v = m.getValue();
      if (!KEY.matcher(m.getKey()).matches()) {
        throw new IllegalArgumentException("bad metadata key '" + m.getKey() + "'");
      }
      if (v.length() > MAX_VALUE || v.indexOf('\n') >= 0 || v.indexOf('\t') >= 0 || v.indexOf('\0') >= 0) {
        throw new IllegalArgumentException("metadata value of " + m.getKey() + " has a newline, tab or NUL, or is too long");
      }
      b.append(sep).append(m.getKey()).append('=').append(v);
    }
  }

  private static void parseMeta(String field, Map<String, String> into) throws ProtocolException {
    int eq = field.indexOf('=');
    String key = eq < 0 ? field : field.substring(0, eq);
    if (eq < 0 || !KEY.matcher(key).matches()) {
      throw new ProtocolException("bad metadata '" + clip(field) + "'");
    }
    String value = field.substring(eq + 1);
    if (value.length() > MAX_VALUE || value.indexOf('\0') >= 0 || value.indexOf('\t') >= 0) {
      throw new ProtocolException("metadata value of " + key + " is too long or has a tab or NUL");
    }
    if (into.put(key, value) != null) {
      throw new ProtocolException("metadata key " + key + " given twice");
    }
  }

  private static String[] lines(byte[] msg) throws ProtocolException {
    if (msg.length == 0) {
      throw new ProtocolException("empty message");
    }
    if (msg.length > MAX_MESSAGE) {
      throw new ProtocolException("message of " + msg.length + " bytes (at most " + MAX_MESSAGE + ")");
    }
    return new String(msg, StandardCharsets.UTF_8).split("\n", -1);
  }

  private static String checkName(String name) {
    if (!validName(name)) {
      throw new IllegalArgumentException("bad name '" + name + "' (letters, digits, '.', '_', '-'; 1 to 128)");
    }
    return name;
  }

  private static byte[] bytes(StringBuilder b) {
    byte[] out = b.toString().getBytes(StandardCharsets.UTF_8);
    if (out.length > MAX_MESSAGE) {
      throw new IllegalArgumentException("message of " + out.length + " bytes (at most " + MAX_MESSAGE + ")");
    }
    return out;
  }

  private static String clip(String s) {
    return s.length() > 60 ? s.substring(0, 60) + "..." : s;
  }
}
