/* ledger.c — skeleton; see ledger.h. */
#include "ledger.h"

#include <lmdb.h>

const char *
ledger_backend_version(void)
{
    return mdb_version(NULL, NULL, NULL);
}
