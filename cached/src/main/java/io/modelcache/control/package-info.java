/**
 * The control API between the CLI and the daemon: newline-delimited JSON over a Unix domain socket
 * in the daemon's home. The server runs each connection on a virtual thread; the client is
 * single-use per call.
 */
package io.modelcache.control;
