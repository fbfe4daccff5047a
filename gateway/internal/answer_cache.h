// Rendered view answers, kept per request and valid while the view stays at the position they
// reflect. A view is immutable at a position: the answer a query gives at position P is the
// answer it gives every time at P, so a request asked again while the view has not moved is
// answered from here, on the I/O thread, without the blocking pool, a snapshot or a row read
// (the registry card, a popular discover query). The key is the request's view, path, query
// parameters (but min_position, which only says how long to wait) and If-None-Match; an entry
// is used only when the view is at exactly the entry's position, so the cache can never answer
// older than a fresh query would.
//
// Bounded by kAnswerCacheEntriesMax and kAnswerCacheBytesMax (gateway/limits.h): a store that
// would pass either empties the cache first (entries of older positions are dead anyway).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "internal/http.h"
#include "internal/query.h"

namespace annals::gateway {

class AnswerCache {
 public:
  // The key of a view request: `view`, the request's path, its query parameters but
  // `min_position`, and its If-None-Match fields.
  static std::string Key(std::string_view view, const Request& request, const QueryParams& query);

  // The answer stored under `key` if it was rendered at `position`.
  std::optional<Response> Find(const std::string& key, uint64_t position) const;
  // Keeps `response` (with its Annals-Position) as the answer to `key` at `position`.
  void Store(const std::string& key, uint64_t position, const Response& response);

  size_t entries() const;

 private:
  struct Entry {
    uint64_t position = 0;
    std::shared_ptr<const Response> response;
    size_t bytes = 0;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  size_t bytes_ = 0;                                // guarded by mu_
};

}  // namespace annals::gateway
