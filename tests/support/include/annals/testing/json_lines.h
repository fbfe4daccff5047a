// JSON lines (what annalsctl prints): each non-empty line parsed with simdjson, for tests. A line
// that does not parse fails the test (doctest REQUIRE). Header-only: the test links simdjson.
#pragma once

#include <doctest/doctest.h>
#include <simdjson.h>

#include <functional>
#include <string>

namespace annals::testing {

// Calls `visit` with each non-empty line of `out`, parsed.
inline void ForEachJsonLine(const std::string& out,
                            const std::function<void(simdjson::dom::element)>& visit) {
  simdjson::dom::parser parser;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    std::string line = out.substr(start, end - start);
    start = end == std::string::npos ? out.size() : end + 1;
    if (line.empty()) continue;
    simdjson::dom::element e;
    REQUIRE_MESSAGE(parser.parse(line).get(e) == simdjson::SUCCESS, line);
    visit(e);
  }
}

}  // namespace annals::testing
