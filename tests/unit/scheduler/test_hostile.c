/*
 * Hostile and garbled peers: random messages with random fields (job ids,
 * indexes, token counts, prices, payments, providers) thrown at both
 * machines. Nothing may abort (bytes from peers never reach an assert), and
 * every invariant must hold after every event.
 */
#include "sched_test.h"

static uint64_t rng_state;

static uint32_t
rnd(uint32_t n)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) % n);
}

/* Small domains so that fields often match something real. */
static uint32_t
pick_u32(void)
{
    static const uint32_t v[] = {0, 1, 2, 3, 4, 31, 32, 33, 64, 99, 100, 101, UINT32_MAX};
    return v[rnd(ARIA_ARRAY_LEN(v))];
}

static uint64_t
pick_u64(void)
{
    static const uint64_t v[] = {0, 1, 10, 50, 100, 320, 640, 3200, UINT64_MAX / 3, UINT64_MAX};
    return v[rnd(ARIA_ARRAY_LEN(v))];
}

Test(hostile, random_messages_never_abort_or_break_invariants, .timeout = 120)
{
    rng_state = 12345;
    int seen[SCHED_ACT_RELEASE + 1] = {0};
    for (int round = 0; round < 150; round++) {
        sched_offer o = t_offer(0);
        sched_req_config rc;
        sched_req_config_default(&rc);
        sched_req *r = t_req_started(&o, &rc, 0);
        sched_prov_config pc;
        sched_prov_config_default(&pc);
        t_id(pc.node_id, 'P', 1);
        pc.capacity = 1 + rnd(3);
        pc.overbook_pct = 100 + 100 * rnd(3);
        pc.base_price_micro = 10;
        pc.n_models = 1;
        t_id(pc.models[0], 'M', 0);
        sched_prov *p = NULL;
        CHECK(sched_prov_new(&pc, &p) == 0, "prov");
        uint64_t now = 0;
        for (int step = 0; step < 400; step++) {
            sched_actions out = {0};
            now += rnd(200) == 0 ? rnd(40000) : rnd(50);
            sched_offer x = t_offer(rnd(2));
            uint32_t prov = 1 + rnd(2); /* 1 is our provider */
            int rcode = 0;
            switch (rnd(11)) {
            case 0: {
                sched_bid b = t_bid(&x, prov, pick_u64(), pick_u32(), pick_u32());
                b.expires_ms = now + rnd(5000);
                rcode = sched_req_on_bid(r, &b, pick_u32(), now, &out);
                break;
            }
            case 1: {
                sched_award_reply y = t_reply(&x, prov, rnd(2));
                rcode = sched_req_on_award_reply(r, &y, now, &out);
                break;
            }
            case 2: {
                sched_chunk c = t_chunk(&x, prov, rnd(4), pick_u32(), rnd(2));
                rcode = sched_req_on_chunk(r, &c, now, &out);
                break;
            }
            case 3: rcode = sched_req_tick(r, now, &out); break;
            case 4: {
                x.max_new_tokens = pick_u32();
                x.max_price_micro = pick_u64();
                x.expires_ms = now + rnd(100000);
                rcode = sched_prov_on_offer(p, &x, now, &out);
                break;
            }
            case 5: {
                sched_award w;
                memset(&w, 0, sizeof w);
                memcpy(w.job_id, x.job_id, 32);
                memcpy(w.requester, x.requester, 32);
                t_id(w.provider, 'P', prov);
                memcpy(w.model_id, x.model_id, 32);
                w.price_micro = pick_u64();
                w.max_new_tokens = pick_u32();
                w.chunk_tokens = pick_u32();
                w.start_chunk = rnd(4);
                w.start_token = rnd(2) ? w.start_chunk * w.chunk_tokens : pick_u32();
                rcode = sched_prov_on_award(p, &w, now, &out);
                break;
            }
            case 6: {
                sched_pull pl;
                memset(&pl, 0, sizeof pl);
                memcpy(pl.job_id, x.job_id, 32);
                memcpy(pl.requester, x.requester, 32);
                t_id(pl.provider, 'P', prov);
                pl.chunk = rnd(5);
                pl.has_payment = rnd(2);
                memcpy(pl.payment.job_id, x.job_id, 32);
                memcpy(pl.payment.payer, x.requester, 32);
                t_id(pl.payment.payee, 'P', rnd(3));
                pl.payment.total_micro = pick_u64();
                rcode = sched_prov_on_pull(p, &pl, now, &out);
                break;
            }
            case 7: {
                uint8_t h[32] = {0};
                rcode =
                    sched_prov_on_computed(p, x.job_id, rnd(5), pick_u32(), rnd(2), h, now, &out);
                break;
            }
            case 8: {
                sched_payment pay;
                memset(&pay, 0, sizeof pay);
                memcpy(pay.job_id, x.job_id, 32);
                memcpy(pay.payer, x.requester, 32);
                t_id(pay.payee, 'P', prov);
                pay.total_micro = pick_u64();
                rcode = sched_prov_on_payment(p, &pay, now, &out);
                break;
            }
            case 9: {
                sched_cancel cn;
                memcpy(cn.job_id, x.job_id, 32);
                memcpy(cn.requester, x.requester, 32);
                t_id(cn.provider, 'P', prov);
                rcode = sched_prov_on_cancel(p, &cn, now, &out);
                break;
            }
            default:
                while (sched_prov_next_deadline(p) <= now && out.n == 0)
                    rcode = sched_prov_tick(p, now, &out);
                break;
            }
            CHECK(rcode == 0 || rcode == SCHED_IGNORED || rcode == ARIA_EPROTO ||
                      rcode == ARIA_EINVAL ||
                      (rcode >= SCHED_NOBID_MODEL && rcode <= SCHED_NOBID_INVALID),
                  "round %d step %d: rc %d", round, step, rcode);
            for (size_t k = 0; k < out.n; k++)
                seen[out.a[k].kind]++;
            CHECK(sched_req_check(r) == 0, "round %d step %d: %s", round, step, aria_err_msg());
            CHECK(sched_prov_check(p) == 0, "round %d step %d: %s", round, step, aria_err_msg());
            sched_req_info info;
            sched_req_get_info(r, &info);
            CHECK(info.paid_micro <= (uint64_t)info.tokens * o.max_price_micro,
                  "requester paid for more than it received");
        }
        sched_req_free(r);
        sched_prov_free(p);
    }
    /* the garbage must still reach the interesting paths of both machines */
    static const sched_action_kind must[] = {SCHED_ACT_AWARD,   SCHED_ACT_PULL,  SCHED_ACT_OUTPUT,
                                             SCHED_ACT_CANCEL,  SCHED_ACT_END,   SCHED_ACT_BID,
                                             SCHED_ACT_COMPUTE, SCHED_ACT_CHUNK, SCHED_ACT_RELEASE};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(must); i++)
        cr_assert_gt(seen[must[i]], 0, "no %s action was ever produced",
                     sched_action_name(must[i]));
}
