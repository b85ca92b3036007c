/* crypto_seal.c: account key pairs and message keys sealed to them (see crypto.h,
 * "Write-only delivery"; doc/architecture.md "Who can decrypt"). */
#include "lib/crypto.h"

#include <string.h>

#include <sodium.h>

#define KEYPAIR_KDF_CTX "mss_xkey"

_Static_assert(CRYPTO_PUBLIC_KEY_LEN == crypto_box_PUBLICKEYBYTES, "public key length");
_Static_assert(CRYPTO_SECRET_KEY_LEN == crypto_box_SECRETKEYBYTES, "secret key length");
_Static_assert(CRYPTO_SEALED_KEY_LEN == crypto_box_SEALBYTES + CRYPTO_KEY_LEN, "sealed key length");
_Static_assert(crypto_box_SEEDBYTES == CRYPTO_KEY_LEN, "seed length");

void crypto_keypair_derive(const unsigned char account_key[CRYPTO_KEY_LEN],
                           unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char sk[CRYPTO_SECRET_KEY_LEN])
{
	unsigned char seed[crypto_box_SEEDBYTES];
	crypto_subkey(seed, account_key, 1, KEYPAIR_KDF_CTX);
	(void)crypto_box_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof seed);
}

void crypto_service_keypair(const unsigned char master[CRYPTO_KEY_LEN], const char ctx[8],
                            unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char sk[CRYPTO_SECRET_KEY_LEN])
{
	unsigned char seed[crypto_box_SEEDBYTES];
	crypto_subkey(seed, master, 1, ctx);
	(void)crypto_box_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof seed);
}

int crypto_key_seal(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                    unsigned char sealed[CRYPTO_SEALED_KEY_LEN])
{
	return crypto_box_seal(sealed, key, CRYPTO_KEY_LEN, pk) == 0 ? 0 : -1;
}

int crypto_key_seal_open(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                         const unsigned char sk[CRYPTO_SECRET_KEY_LEN], const void *sealed, size_t n,
                         unsigned char key[CRYPTO_KEY_LEN])
{
	if (sealed == NULL || n != CRYPTO_SEALED_KEY_LEN)
		return -1;
	if (crypto_box_seal_open(key, sealed, n, pk, sk) != 0) {
		sodium_memzero(key, CRYPTO_KEY_LEN);
		return -1;
	}
	return 0;
}
