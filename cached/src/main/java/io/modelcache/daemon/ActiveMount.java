package io.modelcache.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.fuse.Mounted;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.ArtifactSource;

/** A live mount: its record, the model tree it serves, its source, the FUSE handle, its signature state. */
record ActiveMount(MountRecord record, ModelMount model, ArtifactSource source, Mounted fuse, String signature) {
  /** What status and ls show of it; {@code survives}: whether it outlives this daemon. */
  ObjectNode describe(ObjectMapper json, boolean survives) {
    long total = model().totalBytes();
    long cached = Math.min(total, model().cachedBytes());
    return json.createObjectNode()
        .put("reference", record().reference())
        .put("digest", record().digest())
        .put("mountpoint", record().mountpoint())
        .put("ownerUid", record().owner())
        .put("transport", fuse() == null ? null : fuse().transport())
        .put("files", model().artifact().files().size())
        .put("totalBytes", total)
        .put("cachedBytes", cached)
        .put("bytesRead", model().bytesRead())
        .put("signature", signature())
        .put("verification", model().verification())
        .put("survivesRestart", survives);
  }
}
