/*
 * pass_reader.c — helper for the passphrase prompt test: reads a passphrase
 * with wallet_passphrase_read (env var ARIA_TEST_NO_SUCH_VAR, so always the
 * /dev/tty prompt; asked twice with argument "confirm") and prints
 * "got:<passphrase>" to stdout, or "err:<message>" and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include "wallet.h"

int
main(int argc, char **argv)
{
    bool confirm = argc > 1 && strcmp(argv[1], "confirm") == 0;
    char *p = NULL;
    int rc = wallet_passphrase_read("ARIA_TEST_NO_SUCH_VAR", "Passphrase: ", confirm, &p);
    if (rc) {
        printf("err:%s\n", aria_err_msg());
        return 1;
    }
    printf("got:%s\n", p);
    wallet_passphrase_free(p);
    return 0;
}
