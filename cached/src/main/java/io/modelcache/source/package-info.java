/** Chooses the artifact store for a reference (registry or OCI layout). Stateless. */
package io.modelcache.source;
