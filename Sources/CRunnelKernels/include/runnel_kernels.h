// Small C kernels that Swift cannot express as fast: CRC-32C (Castagnoli).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32C of `len` bytes, continuing from `crc` (pass 0 to start). Uses the SSE4.2
/// `crc32` instruction when the CPU has it (checked once at run time), else the table path.
uint32_t runnel_crc32c(uint32_t crc, const void *buf, size_t len);

/// The portable slicing-by-8 table path, always available.
uint32_t runnel_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/// The SSE4.2 path. Call only when `runnel_crc32c_hardware_available()` is non-zero.
uint32_t runnel_crc32c_hardware(uint32_t crc, const void *buf, size_t len);

/// Non-zero when this CPU has the SSE4.2 `crc32` instruction.
int runnel_crc32c_hardware_available(void);

#ifdef __cplusplus
}
#endif
