/*
 * test_sample.c — the sampler: greedy and its tie rule, seeded determinism,
 * top-k / top-p / min-p restrictions, temperature, repetition penalty, the
 * empirical distribution of draws, and stop strings in generation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

static kern_sampler *
mk(kern_sample_params *p, uint32_t n)
{
    kern_sampler *s = NULL;
    cr_assert_eq(kern_sampler_new(p, n, &s), 0, "%s", aria_err_msg());
    return s;
}

Test(sample, greedy_takes_the_max_and_the_lowest_id_on_ties)
{
    kern_sample_params p;
    kern_sample_params_default(&p);
    p.temp = 0;
    float l[6] = {1, 5, 3, 5, -2, NAN};
    kern_sampler *s = mk(&p, 6);
    cr_expect_eq(kern_sampler_sample(s, l), 1);
    l[3] = 5.5f;
    cr_expect_eq(kern_sampler_sample(s, l), 3);
    kern_sampler_free(s);
}

Test(sample, same_seed_same_ids_and_different_seed_differs)
{
    enum { V = 100, N = 200 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)((i * 37) % 11) * 0.3f;
    kern_sample_params p;
    kern_sample_params_default(&p);
    p.temp = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 42;
    int32_t a[N], b[N], c[N];
    kern_sampler *s1 = mk(&p, V), *s2 = mk(&p, V);
    p.seed = 43;
    kern_sampler *s3 = mk(&p, V);
    int diff = 0;
    for (int i = 0; i < N; i++) {
        a[i] = kern_sampler_sample(s1, l);
        b[i] = kern_sampler_sample(s2, l);
        c[i] = kern_sampler_sample(s3, l);
        diff += a[i] != c[i];
    }
    cr_expect(memcmp(a, b, sizeof a) == 0);
    cr_expect(diff > N / 4, "seeds 42 and 43 gave nearly the same ids (%d differ)", diff);
    kern_sampler_free(s1);
    kern_sampler_free(s2);
    kern_sampler_free(s3);
}

Test(sample, draws_follow_the_softmax_distribution)
{
    /* logits log(1), log(2), log(3), log(4): probabilities .1 .2 .3 .4 */
    float l[4] = {0.0f, (float)log(2.0), (float)log(3.0), (float)log(4.0)};
    kern_sample_params p = {
        .temp = 1, .top_k = 0, .top_p = 1, .min_p = 0, .repeat_penalty = 1, .seed = 1};
    kern_sampler *s = mk(&p, 4);
    int cnt[4] = {0};
    enum { N = 40000 };
    for (int i = 0; i < N; i++)
        cnt[kern_sampler_sample(s, l)]++;
    for (int i = 0; i < 4; i++) {
        double f = (double)cnt[i] / N, want = (i + 1) / 10.0;
        cr_expect(fabs(f - want) < 0.01, "id %d: freq %.4f want %.2f", i, f, want);
    }
    kern_sampler_free(s);
}

Test(sample, top_k_top_p_and_min_p_restrict_the_candidates)
{
    float l[5] = {0.0f, (float)log(2.0), (float)log(3.0), (float)log(4.0), -100.0f};
    kern_sample_params p = {
        .temp = 1, .top_k = 2, .top_p = 1, .min_p = 0, .repeat_penalty = 1, .seed = 3};
    kern_sampler *s = mk(&p, 5);
    for (int i = 0; i < 2000; i++) {
        int32_t id = kern_sampler_sample(s, l);
        cr_assert(id == 3 || id == 2, "top-k 2 gave %d", id);
    }
    kern_sampler_free(s);
    /* top-p 0.5: .4 then .3 reaches 0.7 >= 0.5 -> {3, 2}; top-p 0.3 -> {3}. */
    p.top_k = 0;
    p.top_p = 0.3f;
    s = mk(&p, 5);
    for (int i = 0; i < 500; i++)
        cr_assert_eq(kern_sampler_sample(s, l), 3);
    kern_sampler_free(s);
    p.top_p = 0.5f;
    s = mk(&p, 5);
    int seen2 = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t id = kern_sampler_sample(s, l);
        cr_assert(id == 3 || id == 2);
        seen2 += id == 2;
    }
    cr_expect(seen2 > 0);
    kern_sampler_free(s);
    /* min-p 0.6: keep p >= .24 -> {3 (.4), 2 (.3)}. */
    p.top_p = 1;
    p.min_p = 0.6f;
    s = mk(&p, 5);
    for (int i = 0; i < 2000; i++) {
        int32_t id = kern_sampler_sample(s, l);
        cr_assert(id == 3 || id == 2, "min-p gave %d", id);
    }
    kern_sampler_free(s);
}

Test(sample, low_temperature_concentrates_and_penalty_discourages_repeats)
{
    float l[3] = {1.0f, 1.2f, 0.9f};
    kern_sample_params p = {
        .temp = 0.01f, .top_k = 0, .top_p = 1, .min_p = 0, .repeat_penalty = 1, .seed = 5};
    kern_sampler *s = mk(&p, 3);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(kern_sampler_sample(s, l), 1);
    kern_sampler_free(s);
    /* Greedy with a penalty: id 1 (1.2 / 1.5 = 0.8) loses to id 0. */
    p.temp = 0;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 4;
    s = mk(&p, 3);
    cr_expect_eq(kern_sampler_sample(s, l), 1);
    kern_sampler_accept(s, 1);
    cr_expect_eq(kern_sampler_sample(s, l), 0);
    /* After 4 other ids the window forgets id 1. */
    for (int i = 0; i < 4; i++)
        kern_sampler_accept(s, 2);
    cr_expect_eq(kern_sampler_sample(s, l), 1);
    kern_sampler_free(s);
}

Test(sample, bad_params_are_rejected_with_the_field_named)
{
    kern_sample_params p;
    kern_sample_params_default(&p);
    p.repeat_penalty = 0;
    kern_sampler *s = NULL;
    cr_expect_eq(kern_sampler_new(&p, 10, &s), ARIA_EINVAL);
    cr_expect(strstr(aria_err_msg(), "repeat_penalty") != NULL);
    kern_sample_params_default(&p);
    p.top_p = NAN;
    cr_expect_eq(kern_sample_params_check(&p), ARIA_EINVAL);
    cr_expect(strstr(aria_err_msg(), "top_p") != NULL);
}
