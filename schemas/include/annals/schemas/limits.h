// The limits on the data of domain events (docs/events.md), named, with their defaults and how
// they relate. A value over its limit is refused at append like any other schema break:
// InvalidEvent naming the field ("data.description"), nothing written. docs/limits.md lists
// them for operators. Strings are measured in bytes of UTF-8 as they stand in the JSON text
// after unescaping. What has no limit here (the agent `card`, the objects of the registry card)
// is bounded by the size of the whole event (eventstore's kEventBytesMax).
#pragma once

#include <cstddef>

namespace annals::schemas {

// Ids and other machine names: did, peer_id, license_id, transfer_id, notification_id, skill
// ids, registry names, hashes and digests, etags.
inline constexpr size_t kDataIdBytesMax = 256;
// Human names and short labels: names, namespaces, versions, tags, capabilities, trust tiers.
inline constexpr size_t kDataNameBytesMax = 256;
// URLs and URIs: url, base_url, spiffe_id, registryUrl, a webhook target.
inline constexpr size_t kDataUrlBytesMax = 2048;
// Prose: descriptions, reasons, errors, a notification's subject.
inline constexpr size_t kDataDescriptionBytesMax = 4096;
// A notification's body (what a webhook receives).
inline constexpr size_t kDataBodyBytesMax = 64 << 10;
// A decimal string (amount, fee): digits and at most one '.', such as "12.50".
inline constexpr size_t kDataDecimalBytesMax = 40;
// Items of any one array: skills, tags, capabilities, the cards of one sync.
inline constexpr size_t kDataArrayItemsMax = 1024;

static_assert(kDataIdBytesMax <= kDataDescriptionBytesMax);
static_assert(kDataNameBytesMax <= kDataDescriptionBytesMax);
static_assert(kDataUrlBytesMax <= kDataDescriptionBytesMax);
static_assert(kDataDescriptionBytesMax <= kDataBodyBytesMax);
static_assert(kDataDecimalBytesMax <= kDataIdBytesMax);

}  // namespace annals::schemas
