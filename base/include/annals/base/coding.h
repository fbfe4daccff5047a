// Fixed-width encodings used in stored keys and values. Big-endian for integers inside keys, so
// that RocksDB's bytewise order is numeric order. The formats built from these are in
// docs/ledger_format.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/base/assert.h"

namespace annals {

inline constexpr size_t kFixed64Size = 8;

// Writes 8 bytes at `dst`.
inline void EncodeBigEndian64(char* dst, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    dst[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline void PutBigEndian64(std::string* dst, uint64_t v) {
  char buf[kFixed64Size];
  EncodeBigEndian64(buf, v);
  dst->append(buf, kFixed64Size);
}

inline std::string BigEndian64(uint64_t v) {
  std::string s;
  PutBigEndian64(&s, v);
  return s;
}

// REQUIRES: src.size() >= 8.
inline uint64_t DecodeBigEndian64(std::string_view src) {
  ANNALS_ASSERT(src.size() >= kFixed64Size);
  uint64_t v = 0;
  for (size_t i = 0; i < kFixed64Size; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

// A decimal number without sign, spaces or other characters, that fits 64 bits; nullopt for
// anything else (also for "").
std::optional<uint64_t> ParseDecimal(std::string_view text);

// Lower-case hexadecimal of bytes, and back. FromHex returns false on odd length or a non-hex
// character.
std::string ToHex(std::string_view bytes);
bool FromHex(std::string_view hex, std::string* bytes);

}  // namespace annals
