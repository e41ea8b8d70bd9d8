/* The allocation seam and its failure-injection hook. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "base.h"

Test(alloc, nth_allocation_fails_then_recovers)
{
    aria_alloc_fail_after(3, false);
    void *a = aria_alloc(8), *b = aria_alloc(8), *c = aria_alloc(8), *d = aria_alloc(8);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c, "third allocation must fail");
    cr_assert_not_null(d, "non-sticky failure must not repeat");
    aria_free(a);
    aria_free(b);
    aria_free(d);
    aria_alloc_fail_after(0, false);
}

Test(alloc, sticky_failure_fails_everything_after)
{
    aria_alloc_fail_after(1, true);
    cr_assert_null(aria_alloc(1));
    cr_assert_null(aria_calloc(1, 1));
    cr_assert_null(aria_realloc(NULL, 4));
    cr_assert_null(aria_strdup("x"));
    aria_alloc_fail_after(0, false);
    void *p = aria_alloc(1);
    cr_assert_not_null(p);
    aria_free(p);
}

Test(alloc, overflowing_array_sizes_fail)
{
    cr_assert_null(aria_calloc(SIZE_MAX / 2, 4));
    cr_assert_null(aria_alloc_array(SIZE_MAX / 8 + 1, 16));
}

Test(alloc, zero_size_gives_unique_pointer_and_free_null_is_noop)
{
    void *a = aria_alloc(0), *b = aria_alloc(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b);
    aria_free(a);
    aria_free(b);
    aria_free(NULL);
}

Test(alloc, counter_counts_allocations)
{
    unsigned long before = aria_alloc_count();
    aria_free(aria_alloc(3));
    char *s = aria_strndup("hello world", 5);
    cr_assert_str_eq(s, "hello");
    aria_free(s);
    cr_assert_eq(aria_alloc_count() - before, 2);
}

Test(alloc, buffer_growth_failure_is_sticky_and_reported)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    aria_alloc_fail_after(1, false);
    cr_assert_eq(aria_buf_put_u32le(&b, 7), ARIA_ENOMEM);
    cr_assert_eq(b.err, ARIA_ENOMEM);
    /* allocations work again, but the buffer's error is sticky */
    cr_assert_eq(aria_buf_put_u8(&b, 1), ARIA_ENOMEM);
    uint8_t *out;
    size_t n;
    cr_assert_eq(aria_buf_take(&b, &out, &n), ARIA_ENOMEM);
    aria_buf_fini(&b);
    aria_alloc_fail_after(0, false);
}
