/**
 * The picocli {@code modelcache} command. Client commands talk to the daemon over its Unix socket;
 * {@code push}, {@code pull}, {@code inspect} and {@code login} work without one. Single-threaded
 * except where a command says otherwise.
 */
package io.modelcache.cli;
