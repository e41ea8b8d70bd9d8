/*
 * ledger.h — account-chain ledger in LMDB.
 * (Skeleton: the ledger issue fills this module in.)
 */
#ifndef ARIA_LEDGER_H
#define ARIA_LEDGER_H
#include "base.h"

/* Version string of the storage engine (for `aria version`). */
const char *ledger_backend_version(void);

#endif
