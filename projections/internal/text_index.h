// TextIndex: an in-memory inverted index for ranked text search (the agents view's discovery).
//
// Documents are named by a key (the agent's did) and carry terms with integer weights (the sum
// of the weights of the fields a term occurs in) and a `demoted` flag. A search scores every
// document that holds at least one query term:
//
//   score(doc) = sum over the distinct query terms t in doc of weight(doc, t) * idf(t),
//   idf(t)     = ln(1 + documents / documents holding t)
//
// and orders the matches by score (descending), then non-demoted before demoted, then key
// (ascending bytes): a total order, so a page of the ranking is deterministic for given
// contents, whatever the order the documents were added in.
//
// Tokens (Tokenize): maximal runs of ASCII letters and digits, lower-cased; every other byte
// (punctuation, spaces, non-ASCII) separates. A run longer than kTokenBytesMax is cut there.
//
// Costs: Upsert and Remove are O(terms of the document) (postings are unordered vectors with
// swap-and-pop removal). Search is O(postings of the query terms + matches * log(offset +
// limit)) comparing scores only; keys are compared only among the matches tied with the last
// score of the page. Memory: one posting (8 bytes) per (document, term) and the same again per
// document, plus the keys and the vocabulary.
//
// Thread-safety: none. The owner serializes writes against reads (the agents view holds a
// shared_mutex: Search under a shared lock, Upsert/Remove under an exclusive one). Search keeps
// per-thread scratch space, so concurrent Searches are safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace annals::projections::internal {

// Longer runs of letters and digits are cut to this many bytes (in documents and queries alike).
inline constexpr size_t kTokenBytesMax = 64;

// Calls `emit(token)` for each token of `text`, in order, duplicates included. A token is a
// view valid only during its call: into `text` when the run has no upper-case letter (most
// text), else into a lower-cased copy on the stack.
template <typename Emit>
void Tokenize(std::string_view text, Emit&& emit) {
  auto word = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  char lowered[kTokenBytesMax];
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    while (i < n && !word(text[i])) ++i;
    const size_t start = i;
    bool upper = false;
    while (i < n && word(text[i])) {
      upper |= text[i] >= 'A' && text[i] <= 'Z';
      ++i;
    }
    if (i == start) break;
    // A run longer than kTokenBytesMax is cut there; the rest of the run is skipped.
    const size_t length = std::min(i - start, kTokenBytesMax);
    if (!upper) {
      emit(text.substr(start, length));
      continue;
    }
    for (size_t k = 0; k < length; ++k) {
      const char c = text[start + k];
      lowered[k] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    emit(std::string_view(lowered, length));
  }
}

// The distinct tokens of `text`, sorted.
std::vector<std::string> DistinctTokens(std::string_view text);

// Hashes std::string keys by their text, so unordered containers of strings can be searched
// with a string_view (heterogeneous lookup, with std::equal_to<>).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
};

struct TermWeight {
  std::string term;
  uint32_t weight = 0;  // > 0
};

class TextIndex {
 public:
  struct Hit {
    std::string key;
    double score = 0;
  };
  struct Page {
    size_t total = 0;       // every matching document
    std::vector<Hit> hits;  // ranks [offset, offset + limit) of the ranking
  };

  // Adds the document `key`, or replaces its terms and flag. `terms` must be distinct.
  void Upsert(std::string_view key, bool demoted, const std::vector<TermWeight>& terms);
  // Removes the document `key` (nothing when absent).
  void Remove(std::string_view key);

  // Documents held.
  size_t size() const { return slot_of_.size(); }
  bool Contains(std::string_view key) const;

  // Ranks the documents holding any of `terms` (distinct) and returns one page of the ranking.
  Page Search(const std::vector<std::string>& terms, size_t offset, size_t limit) const;

 private:
  struct Posting {
    uint32_t slot;
    uint32_t weight;
  };
  struct Term {
    std::string text;
    std::vector<Posting> postings;
  };
  // Where a document's posting for one term sits, for O(1) removal.
  struct DocTerm {
    uint32_t term;
    uint32_t index;  // into terms_[term].postings
  };
  struct Doc {
    std::string key;
    bool demoted = false;
    bool live = false;
    std::vector<DocTerm> terms;  // sorted by term id
  };

  void ClearTerms(uint32_t slot);
  uint32_t TermId(const std::string& text);

  std::vector<Doc> docs_;  // by slot
  std::vector<uint32_t> free_slots_;
  // Open-addressing maps (Boost's flat map): a lookup touches one group of slots, where a
  // node-based map chases a pointer per entry; with a term per agent name number the
  // vocabulary has as many entries as there are agents.
  using Map = boost::unordered_flat_map<std::string, uint32_t, StringHash, std::equal_to<>>;
  Map slot_of_;
  std::vector<Term> terms_;  // by term id
  std::vector<uint32_t> free_terms_;
  Map term_of_;
};

}  // namespace annals::projections::internal
