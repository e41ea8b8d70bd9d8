/*
 * passphrase.c — reading a keystore passphrase: from an environment
 * variable, else from /dev/tty with echo off. Never reads stdin, so a job
 * without a terminal fails at once with a clear message instead of hanging.
 *
 * Invariants: passphrase bytes live only in sodium_malloc memory; the
 * terminal's echo setting is restored before returning on every path (a
 * signal that kills the process mid-prompt leaves echo off, as with any
 * no-echo prompt).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "wallet_internal.h"

#define PASS_MAX 1024

static int
tty_read_line(int fd, const char *prompt, char *out, size_t cap)
{
    struct termios old, noecho;
    bool restore = false;
    if (tcgetattr(fd, &old) == 0) {
        noecho = old;
        noecho.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        noecho.c_lflag |= ICANON;
        if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
            restore = true;
    }
    if (prompt && write(fd, prompt, strlen(prompt)) < 0) {
        /* the prompt is cosmetic; reading still works */
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = aria_errf(ARIA_EIO, "passphrase: terminal closed before a newline");
            break;
        }
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 >= cap) {
            rc = aria_errf(ARIA_EINVAL, "passphrase: longer than %d bytes", PASS_MAX - 1);
            /* keep draining the line so it does not reach the shell */
            continue;
        }
        out[n++] = c;
    }
    out[rc ? 0 : n] = 0;
    if (restore)
        (void)tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* cosmetic */
    }
    return rc;
}

int
wallet_passphrase_read(const char *env_name, const char *prompt, bool confirm, char **out)
{
    ARIA_ASSERT(out);
    *out = NULL;
    if (sodium_init() < 0)
        return aria_errf(ARIA_EINTERNAL, "wallet: libsodium initialisation failed");
    char *p = sodium_malloc(PASS_MAX);
    if (!p)
        return aria_errf(ARIA_ENOMEM, "passphrase: cannot allocate protected memory");
    const char *env = env_name ? getenv(env_name) : NULL;
    int rc = 0;
    if (env) {
        size_t n = strnlen(env, PASS_MAX);
        if (n >= PASS_MAX) {
            rc = aria_errf(ARIA_EINVAL, "%s: passphrase longer than %d bytes", env_name,
                           PASS_MAX - 1);
            goto done;
        }
        memcpy(p, env, n + 1);
    } else {
        int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            rc = aria_errf(ARIA_EPERM,
                           "no passphrase: set %s or run from a terminal (or create the "
                           "keystore with --no-passphrase)",
                           env_name ? env_name : "ARIA_PASSPHRASE");
            goto done;
        }
        rc = tty_read_line(fd, prompt ? prompt : "Passphrase: ", p, PASS_MAX);
        if (rc == 0 && confirm) {
            char *again = sodium_malloc(PASS_MAX);
            if (!again) {
                rc = aria_errf(ARIA_ENOMEM, "passphrase: cannot allocate protected memory");
            } else {
                rc = tty_read_line(fd, "Repeat passphrase: ", again, PASS_MAX);
                if (rc == 0 &&
                    (strlen(again) != strlen(p) || sodium_memcmp(again, p, strlen(p)) != 0))
                    rc = aria_errf(ARIA_EINVAL, "passphrase: the two entries differ");
                sodium_free(again);
            }
        }
        close(fd);
        if (rc)
            goto done;
    }
    if (!p[0]) {
        rc = aria_errf(ARIA_EINVAL, "passphrase is empty (use --no-passphrase for an unencrypted "
                                    "keystore)");
        goto done;
    }
done:
    if (rc) {
        sodium_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void
wallet_passphrase_free(char *p)
{
    if (p)
        sodium_free(p); /* wipes */
}
