#include "internal/answer_cache.h"

#include "annals/gateway/limits.h"

namespace annals::gateway {

namespace {

size_t SizeOf(const std::string& key, const Response& response) {
  size_t bytes = key.size() + response.body.size() + response.content_type.size();
  for (const auto& [name, value] : response.headers) bytes += name.size() + value.size();
  return bytes;
}

}  // namespace

std::string AnswerCache::Key(std::string_view view, const Request& request,
                             const QueryParams& query) {
  std::string key(view);
  key += '\n';
  key += request.path();
  // Decoded names and values may hold any byte: each is length-prefixed, so no two requests
  // share a key.
  for (const auto& [name, value] : query) {
    if (name == "min_position") continue;
    key += '\n' + std::to_string(name.size()) + ':' + name + std::to_string(value.size()) + ':';
    key += value;
  }
  for (const Header& header : request.headers) {
    if (header.name != "if-none-match") continue;
    key += "\nif-none-match:";
    key += header.value;
  }
  return key;
}

std::optional<Response> AnswerCache::Find(const std::string& key, uint64_t position) const {
  std::shared_ptr<const Response> found;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.position != position) return std::nullopt;
    found = it->second.response;
  }
  return *found;
}

void AnswerCache::Store(const std::string& key, uint64_t position, const Response& response) {
  const size_t bytes = SizeOf(key, response);
  if (bytes > kAnswerCacheBytesMax) return;
  auto shared = std::make_shared<const Response>(response);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.position >= position) return;  // as fresh already
    bytes_ -= it->second.bytes;
    entries_.erase(it);
  }
  if (entries_.size() >= kAnswerCacheEntriesMax || bytes_ + bytes > kAnswerCacheBytesMax) {
    entries_.clear();
    bytes_ = 0;
  }
  entries_.emplace(key, Entry{position, std::move(shared), bytes});
  bytes_ += bytes;
}

size_t AnswerCache::entries() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace annals::gateway
