/**
 * Signature policy: which models may be mounted or pulled, decided on the manifest digest before any
 * blob of the model is fetched, and {@code modelcache sign}.
 *
 * <p>Pure core: {@link io.modelcache.trust.TrustPolicy} (which rule applies to a reference: the most
 * specific scope wins, no rule means {@code none}), {@link io.modelcache.trust.SimpleSigning},
 * {@link io.modelcache.trust.SigstoreBundle} and {@link io.modelcache.trust.SignatureCheck} (the verdict
 * over signatures already fetched), {@link io.modelcache.trust.CosignPrivateKey} (cosign's key file).
 * Adapters: {@link io.modelcache.trust.SignatureFinder} reads the signatures an
 * {@link io.modelcache.oci.ArtifactSource} holds (cosign's {@code sha256-<hex>.sig} tag; OCI 1.1
 * referrers, else the referrers tag {@code sha256-<hex>}); {@link io.modelcache.trust.TrustGate} puts
 * them together; {@link io.modelcache.trust.CosignSigner} writes the tag form.
 *
 * <p>Crypto choice: verification and signing use the JDK's own {@code java.security} (ECDSA P-256 with
 * SHA-256, DER signatures as cosign writes them; Ed25519; RSA PKCS#1 v1.5 with SHA-256), and PEM public
 * keys are plain base64 of X.509 SubjectPublicKeyInfo, which {@code KeyFactory} reads. BouncyCastle
 * ({@code bcprov}, Maven Central) is used only for what the JDK lacks, to open cosign's encrypted
 * private key files: scrypt and NaCl secretbox (XSalsa20 + Poly1305), as low-level primitives, not as
 * a JCA provider. sigstore-java was not chosen: it brings Fulcio/Rekor clients and gRPC-era
 * dependencies for keyless flows this policy does not use.
 *
 * <p>Threading: every class here is stateless or immutable and thread-safe; network calls happen only
 * in the adapters, on the caller's thread.
 */
package io.modelcache.trust;
