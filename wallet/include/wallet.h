/*
 * wallet.h — keys, keystore file, addresses, sign/verify, seal/open.
 * (Skeleton: the wallet issue fills this module in.)
 */
#ifndef ARIA_WALLET_H
#define ARIA_WALLET_H
#include "base.h"

/* Version string of the crypto libraries wallet links (for `aria version`). */
const char *wallet_backend_version(void);

#endif
