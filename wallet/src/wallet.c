/* wallet.c — skeleton; see wallet.h. */
#include "wallet.h"

#include <sodium.h>

const char *
wallet_backend_version(void)
{
    return sodium_version_string();
}
