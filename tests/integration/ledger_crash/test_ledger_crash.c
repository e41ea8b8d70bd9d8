/*
 * test_ledger_crash.c — 200 SIGKILLs of a ledger writer at random moments;
 * after each the ledger opens, verify passes, supply is conserved and every
 * acknowledged entry is present (tl_crash_run in ledger_testlib.c).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ledger_testlib.h"

Test(ledger_crash, survives_200_sigkills_of_the_writer, .timeout = 280)
{
    /* tmpfs keeps this CI run short (fsync is free there); SIGKILL safety does
     * not depend on the file system. bench_ledger_crash runs on $TMPDIR (disk). */
    struct stat st_shm;
    if (stat("/dev/shm", &st_shm) == 0 && S_ISDIR(st_shm.st_mode))
        setenv("TMPDIR", "/dev/shm", 1);
    tl_world w;
    tl_world_init(&w, 6, 4, 100000);
    tl_crash_stats st;
    char msg[512] = "";
    int rc = tl_crash_run(&w, 0xc0ffee, 200, 500, &st, msg, sizeof msg);
    cr_assert_eq(rc, 0, "%s", msg);
    cr_assert_eq(st.killed, 200, "200 writers must die by SIGKILL (%llu rounds)",
                 (unsigned long long)st.iterations);
    cr_assert_gt(st.checked, 0);
    cr_log_info("%llu kills, %llu entries acknowledged, %llu presence checks, %llu epochs",
                (unsigned long long)st.killed, (unsigned long long)st.acked,
                (unsigned long long)st.checked, (unsigned long long)st.epochs);
    tl_world_fini(&w);
}
