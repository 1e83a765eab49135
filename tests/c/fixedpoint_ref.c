/* A plain C transcription of docs/semantics.md sections 4-5 (fixed-point primitives and
 * requantization), used only by tests/test_semantics_in_c.py to show that the document is
 * implementable in C bit for bit. Reads lines "x multiplier exponent mode" from stdin
 * (mode 0 = multiplier, 1 = shift) and prints one requantized int32 per line. */
#include <stdint.h>
#include <stdio.h>

static int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t p = (int64_t)a * (int64_t)b;
    int64_t nudge = p >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((p + nudge) / (1LL << 31)); /* C division truncates toward zero */
}

static int32_t rdbpot(int32_t x, int e) {
    if (e == 0) return x;
    int32_t mask = (int32_t)((1LL << e) - 1);
    int32_t rem = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0); /* >> on negatives: arithmetic in gcc */
}

static int32_t satshl(int32_t x, int s) {
    int64_t v = (int64_t)x * (1LL << s);
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static int32_t requant(int32_t acc, int32_t m, int e, int shift_mode) {
    if (shift_mode) return e >= 0 ? satshl(acc, e) : rdbpot(acc, -e);
    return rdbpot(srdhm(satshl(acc, e > 0 ? e : 0), m), e < 0 ? -e : 0);
}

int main(void) {
    long long x, m;
    int e, mode;
    while (scanf("%lld %lld %d %d", &x, &m, &e, &mode) == 4)
        printf("%d\n", requant((int32_t)x, (int32_t)m, e, mode));
    return 0;
}
