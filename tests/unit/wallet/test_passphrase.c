/*
 * test_passphrase.c — the passphrase prompt on a real pseudo-terminal: the
 * helper program (pass_reader) runs in its own session with the pty as its
 * controlling terminal; the test types into the master side. Checks the
 * prompt appears, the typed passphrase is NOT echoed, confirmation works
 * and a mismatch is an error; and that without a terminal the call fails at
 * once, never reading stdin.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wallet.h"

typedef struct pty_run {
    int master, out_rd;
    pid_t pid;
    char screen[4096]; /* everything the helper wrote to the terminal */
    size_t screen_len;
} pty_run;

static void
pty_start(pty_run *r, const char *arg)
{
    memset(r, 0, sizeof *r);
    r->master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert(r->master >= 0);
    cr_assert_eq(grantpt(r->master), 0);
    cr_assert_eq(unlockpt(r->master), 0);
    char slave[128];
    cr_assert_eq(ptsname_r(r->master, slave, sizeof slave), 0);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* async-signal-safe calls only, then exec */
        setsid();
        int s = open(slave, O_RDWR); /* becomes the controlling terminal */
        int n = open("/dev/null", O_RDONLY);
        if (s < 0 || n < 0)
            _exit(120);
        dup2(n, 0);
        dup2(pfd[1], 1);
        dup2(s, 2);
        execl(PASS_READER, PASS_READER, arg, (char *)NULL);
        _exit(127);
    }
    cr_assert(pid > 0);
    close(pfd[1]);
    r->pid = pid;
    r->out_rd = pfd[0];
}

/* Read terminal output until `want` appears (5 s limit). */
static void
pty_expect(pty_run *r, const char *want)
{
    for (int waited = 0; waited < 5000;) {
        r->screen[r->screen_len] = 0;
        if (strstr(r->screen, want))
            return;
        struct pollfd p = {r->master, POLLIN, 0};
        int n = poll(&p, 1, 100);
        waited += 100;
        if (n == 1) {
            ssize_t k =
                read(r->master, r->screen + r->screen_len, sizeof r->screen - 1 - r->screen_len);
            if (k > 0)
                r->screen_len += (size_t)k;
        }
    }
    r->screen[r->screen_len] = 0;
    cr_assert_fail("no '%s' on the terminal; got: %s", want, r->screen);
}

static int
pty_finish(pty_run *r, char *out, size_t cap)
{
    int st;
    cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
    /* drain what is left on the terminal */
    struct pollfd p = {r->master, POLLIN, 0};
    while (poll(&p, 1, 50) == 1 && r->screen_len < sizeof r->screen - 1) {
        ssize_t k =
            read(r->master, r->screen + r->screen_len, sizeof r->screen - 1 - r->screen_len);
        if (k <= 0)
            break;
        r->screen_len += (size_t)k;
    }
    r->screen[r->screen_len] = 0;
    ssize_t n = read(r->out_rd, out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    close(r->out_rd);
    close(r->master);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(wallet_passphrase, prompt_does_not_echo_and_confirms)
{
    pty_run r;
    char out[256];
    pty_start(&r, "confirm");
    pty_expect(&r, "Passphrase: ");
    cr_assert_eq(write(r.master, "tr0ub4dor&3\n", 12), 12);
    pty_expect(&r, "Repeat passphrase: ");
    cr_assert_eq(write(r.master, "tr0ub4dor&3\n", 12), 12);
    cr_assert_eq(pty_finish(&r, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, "got:tr0ub4dor&3\n");
    cr_assert_null(strstr(r.screen, "tr0ub4dor"), "passphrase echoed: %s", r.screen);
}

Test(wallet_passphrase, mismatched_confirmation_is_an_error)
{
    pty_run r;
    char out[256];
    pty_start(&r, "confirm");
    pty_expect(&r, "Passphrase: ");
    cr_assert_eq(write(r.master, "one\n", 4), 4);
    pty_expect(&r, "Repeat passphrase: ");
    cr_assert_eq(write(r.master, "two\n", 4), 4);
    cr_assert_eq(pty_finish(&r, out, sizeof out), 1);
    cr_assert(strstr(out, "differ"), "%s", out);
}

Test(wallet_passphrase, environment_wins_and_empty_is_refused)
{
    char *p = NULL;
    setenv("ARIA_TEST_PASS", "from-env", 1);
    cr_assert_eq(wallet_passphrase_read("ARIA_TEST_PASS", NULL, true, &p), 0);
    cr_assert_str_eq(p, "from-env");
    wallet_passphrase_free(p);
    setenv("ARIA_TEST_PASS", "", 1);
    cr_assert_eq(wallet_passphrase_read("ARIA_TEST_PASS", NULL, false, &p), ARIA_EINVAL);
    cr_assert_null(p);
    wallet_passphrase_free(NULL);
}
