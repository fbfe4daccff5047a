#include "internal/key_filter.h"

#include <algorithm>
#include <cstring>

#include "annals/base/assert.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/limits.h"

namespace annals::eventstore::internal {

KeyFilter::KeyFilter(uint64_t capacity_keys) : capacity_(capacity_keys) {
  const uint64_t bits = std::max<uint64_t>(capacity_keys, 1) * kKeyFilterBitsPerKey;
  const uint64_t bytes = std::min(kKeyFilterBytesMax, (bits + 7) / 8);
  blocks_ = std::max<uint64_t>(1, (bytes + kBlockBytes - 1) / kBlockBytes);
  words_ = std::make_unique<std::atomic<uint64_t>[]>(blocks_ * kBlockWords);
  for (uint64_t i = 0; i < blocks_ * kBlockWords; ++i) {
    words_[i].store(0, std::memory_order_relaxed);
  }
}

KeyFilter::Probe KeyFilter::ProbeOf(std::string_view idem_key) const {
  ANNALS_ASSERT(idem_key.size() == kSha256Size);
  uint64_t head;
  uint64_t tail;
  std::memcpy(&head, idem_key.data(), sizeof head);
  std::memcpy(&tail, idem_key.data() + 8, sizeof tail);
  Probe p;
  p.block = head % blocks_;
  for (int i = 0; i < kProbes; ++i) p.bits[i] = static_cast<uint16_t>((tail >> (9 * i)) & 511);
  return p;
}

void KeyFilter::Add(std::string_view idem_key) {
  const Probe p = ProbeOf(idem_key);
  uint64_t masks[kBlockWords] = {};
  for (uint16_t bit : p.bits) masks[bit / 64] |= uint64_t{1} << (bit % 64);
  std::atomic<uint64_t>* block = &words_[p.block * kBlockWords];
  for (uint64_t w = 0; w < kBlockWords; ++w) {
    if (masks[w] != 0) block[w].fetch_or(masks[w], std::memory_order_relaxed);
  }
}

void KeyFilter::Prefetch(std::string_view idem_key) const {
  const Probe p = ProbeOf(idem_key);
  __builtin_prefetch(&words_[p.block * kBlockWords], /*rw=*/1);
}

bool KeyFilter::MayContain(std::string_view idem_key) const {
  const Probe p = ProbeOf(idem_key);
  const std::atomic<uint64_t>* block = &words_[p.block * kBlockWords];
  for (uint16_t bit : p.bits) {
    if ((block[bit / 64].load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64))) == 0) {
      return false;
    }
  }
  return true;
}

}  // namespace annals::eventstore::internal
