/* cmd_version.c — `aria version`: version, revision, build, CPU features. */
#include "build_info.h"
#include "cli.h"
#include "kernels.h"
#include "ledger.h"
#include "wallet.h"
#include "wire.h"

int
cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(cli_verb_find("version"), "unexpected argument");
    ARIA_UNUSED(argv);
    char feats[256];
    kern_cpu_feature_string(feats, sizeof feats);
    printf("aria %s (git %s, %s build, %s)\n", ARIA_VERSION, ARIA_GIT_REV, ARIA_BUILD_TYPE,
           ARIA_COMPILER);
    printf("cpu features: %s\n", feats[0] ? feats : "(none)");
    printf("kernel isa: %s (best on this cpu: %s)\n", kern_isa_name(kern_isa_selected()),
           kern_isa_name(kern_isa_best()));
    printf("libraries: libsodium %s, lmdb \"%s\", nng %s\n", wallet_backend_version(),
           ledger_backend_version(), wire_backend_version());
    return 0;
}
