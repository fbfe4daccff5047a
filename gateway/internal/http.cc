#include "internal/http.h"

#include "annals/base/assert.h"

namespace annals::gateway {

std::string_view Request::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  const size_t mark = target.find('?');
  return mark == std::string::npos ? std::string_view() : std::string_view(target).substr(mark + 1);
}

const std::string* Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

size_t Request::header_count(std::string_view name) const {
  size_t count = 0;
  for (const Header& h : headers) count += h.name == name ? 1 : 0;
  return count;
}

const std::string& Request::param(std::string_view name) const {
  const auto it = params.find(name);
  ANNALS_ASSERT_MSG(it != params.end(), "the route's pattern has no such parameter");
  return it->second;
}

Response JsonResponse(int status, std::string json) {
  Response response;
  response.status = status;
  response.body = std::move(json);
  return response;
}

}  // namespace annals::gateway
