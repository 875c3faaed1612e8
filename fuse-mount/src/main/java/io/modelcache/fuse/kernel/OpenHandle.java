package io.modelcache.fuse.kernel;

import io.modelcache.fuse.ReadOnlyTree;

/** An open handle: its reader, the reply it got, and its backing file when its replies are spliced. */
record OpenHandle(ReadOnlyTree.FileReader reader, OpenReply reply, SplicedFile spliced) {
  /** At RELEASE or when the connection closes: the spliced descriptor (once idle), then the reader. */
  void close() {
    try {
      if (spliced != null) {
        spliced.close();
      }
    } finally {
      reader.close();
    }
  }
}
