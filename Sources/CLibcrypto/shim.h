// OpenSSL's libcrypto, for SHA-256 only (SocaiCrypto/SHA256.swift says why).
//
// The one-context SHA256_Init/Update/Final calls are deprecated in OpenSSL 3.0 in favour of
// EVP, but present in every 3.x release. They are used on purpose: EVP's per-call dispatch
// costs more than the hash of a 65-byte state-tree node itself. This define keeps the
// deprecation attributes out of the Swift import, so they do not warn on every build.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
