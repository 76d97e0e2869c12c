// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Kafka's RecordBatch v2 uses it.
//
// Two paths:
//  - portable: slicing-by-8 tables (8 table look-ups per 8 input bytes);
//  - hardware: the SSE4.2 `crc32` instruction. One instruction has a latency of 3 cycles but a
//    throughput of 1 per cycle, so a single dependent chain wastes two thirds of the unit. We run
//    three independent chains over three adjacent blocks and then merge them: merging needs
//    "CRC of A followed by len(B) zero bytes", a linear operator over GF(2) that we precompute as
//    byte-wise lookup tables for the two block sizes we use (the approach of Mark Adler's crc32c).
#include "runnel_kernels.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t table8[8][256];
static uint32_t long_shift[4][256];
static uint32_t short_shift[4][256];
static int hardware_available;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

// --- GF(2) operators for appending zero bytes ---------------------------------------------

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

// Builds in `even` the operator that appends `len` zero bytes to a CRC (len > 0).
static void zeros_operator(uint32_t *even, size_t len) {
    uint32_t odd[32];
    // The operator for one zero bit.
    odd[0] = POLY;
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd);  // two zero bits
    gf2_square(odd, even);  // four zero bits
    // Repeated squaring; the first square below gives one zero byte.
    do {
        gf2_square(even, odd);
        len >>= 1;
        if (len == 0) return;
        gf2_square(odd, even);
        len >>= 1;
    } while (len);
    for (int n = 0; n < 32; n++) even[n] = odd[n];
}

// Expands an operator into four byte-indexed tables so it applies with four look-ups.
static void zeros_table(uint32_t table[4][256], size_t len) {
    uint32_t op[32];
    zeros_operator(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        table[0][n] = gf2_times(op, n);
        table[1][n] = gf2_times(op, n << 8);
        table[2][n] = gf2_times(op, n << 16);
        table[3][n] = gf2_times(op, n << 24);
    }
}

static inline uint32_t shift_crc(uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
           table[3][crc >> 24];
}

static void init_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ POLY : crc >> 1;
        table8[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table8[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table8[0][crc & 0xff] ^ (crc >> 8);
            table8[k][n] = crc;
        }
    }
    zeros_table(long_shift, LONG_BLOCK);
    zeros_table(short_shift, SHORT_BLOCK);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    hardware_available = __builtin_cpu_supports("sse4.2");
#else
    hardware_available = 0;
#endif
}

static inline void ensure_init(void) { pthread_once(&init_once, init_tables); }

// --- portable ------------------------------------------------------------------------------

uint32_t runnel_crc32c_portable(uint32_t crc, const void *buf, size_t len) {
    ensure_init();
    const unsigned char *p = buf;
    crc = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc = table8[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        word ^= crc;
        crc = table8[7][word & 0xff] ^ table8[6][(word >> 8) & 0xff] ^
              table8[5][(word >> 16) & 0xff] ^ table8[4][(word >> 24) & 0xff] ^
              table8[3][(word >> 32) & 0xff] ^ table8[2][(word >> 40) & 0xff] ^
              table8[1][(word >> 48) & 0xff] ^ table8[0][word >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) crc = table8[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

// --- hardware (SSE4.2) ---------------------------------------------------------------------

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static inline uint64_t load64(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return word;
}

// Three interleaved chains over blocks of `block` bytes, merged with `shift`.
#define INTERLEAVED(block, shift)                                                   \
    while (len >= 3 * (block)) {                                                    \
        uint64_t crc1 = 0, crc2 = 0;                                                \
        const unsigned char *end = p + (block);                                     \
        do {                                                                        \
            crc0 = _mm_crc32_u64(crc0, load64(p));                                  \
            crc1 = _mm_crc32_u64(crc1, load64(p + (block)));                        \
            crc2 = _mm_crc32_u64(crc2, load64(p + 2 * (block)));                    \
            p += 8;                                                                 \
        } while (p < end);                                                          \
        crc0 = shift_crc(shift, (uint32_t)crc0) ^ (uint32_t)crc1;                   \
        crc0 = shift_crc(shift, (uint32_t)crc0) ^ (uint32_t)crc2;                   \
        p += 2 * (block);                                                           \
        len -= 3 * (block);                                                         \
    }

__attribute__((target("sse4.2")))
uint32_t runnel_crc32c_hardware(uint32_t crc, const void *buf, size_t len) {
    ensure_init();
    const unsigned char *p = buf;
    uint64_t crc0 = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *p++);
        len--;
    }
    INTERLEAVED(LONG_BLOCK, long_shift)
    INTERLEAVED(SHORT_BLOCK, short_shift)
    while (len >= 8) {
        crc0 = _mm_crc32_u64(crc0, load64(p));
        p += 8;
        len -= 8;
    }
    while (len--) crc0 = _mm_crc32_u8((uint32_t)crc0, *p++);
    return ~(uint32_t)crc0;
}
#else
uint32_t runnel_crc32c_hardware(uint32_t crc, const void *buf, size_t len) {
    return runnel_crc32c_portable(crc, buf, len);
}
#endif

int runnel_crc32c_hardware_available(void) {
    ensure_init();
    return hardware_available;
}

uint32_t runnel_crc32c(uint32_t crc, const void *buf, size_t len) {
    ensure_init();
    return hardware_available ? runnel_crc32c_hardware(crc, buf, len)
                              : runnel_crc32c_portable(crc, buf, len);
}
