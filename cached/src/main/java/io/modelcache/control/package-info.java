/**
 * The control API between the CLI and the daemon: newline-delimited JSON over a Unix domain socket
 * in the daemon's home. The server identifies each caller (SO_PEERCRED) and passes it to the
 * handler; the client tells "permission denied" (and which group may use the socket) from "no
 * daemon". The server runs each connection on a virtual thread; the client is single-use per call.
 */
package io.modelcache.control;
