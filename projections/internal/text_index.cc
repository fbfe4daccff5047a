#include "internal/text_index.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "annals/base/assert.h"

namespace annals::projections::internal {

std::vector<std::string> DistinctTokens(std::string_view text) {
  std::vector<std::string> tokens;
  Tokenize(text, [&](std::string_view token) { tokens.emplace_back(token); });
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  return tokens;
}

namespace {

// A free index of `items` (a freed one if any, else a new element at the end).
template <typename T>
uint32_t TakeSlot(std::vector<T>& items, std::vector<uint32_t>& free) {
  if (!free.empty()) {
    uint32_t index = free.back();
    free.pop_back();
    return index;
  }
  ANNALS_ASSERT(items.size() < UINT32_MAX);
  items.emplace_back();
  return static_cast<uint32_t>(items.size() - 1);
}

}  // namespace

bool TextIndex::Contains(std::string_view key) const {
  return slot_of_.find(key) != slot_of_.end();
}

uint32_t TextIndex::TermId(const std::string& text) {
  auto it = term_of_.find(text);
  if (it != term_of_.end()) return it->second;
  uint32_t id = TakeSlot(terms_, free_terms_);
  ANNALS_ASSERT(terms_[id].postings.empty());
  terms_[id].text = text;
  term_of_.emplace(text, id);
  return id;
}

void TextIndex::ClearTerms(uint32_t slot) {
  for (const DocTerm& doc_term : docs_[slot].terms) {
    Term& term = terms_[doc_term.term];
    ANNALS_ASSERT(doc_term.index < term.postings.size());
    ANNALS_ASSERT(term.postings[doc_term.index].slot == slot);
    // Swap-and-pop: the last posting moves into the hole; its document learns its new index.
    Posting moved = term.postings.back();
    term.postings.pop_back();
    if (doc_term.index < term.postings.size()) {
      term.postings[doc_term.index] = moved;
      auto& moved_terms = docs_[moved.slot].terms;
      auto at = std::lower_bound(moved_terms.begin(), moved_terms.end(), doc_term.term,
                                 [](const DocTerm& t, uint32_t id) { return t.term < id; });
      ANNALS_ASSERT(at != moved_terms.end() && at->term == doc_term.term);
      at->index = doc_term.index;
    }
    if (term.postings.empty()) {
      term_of_.erase(term.text);
      term.text.clear();
      term.postings.shrink_to_fit();
      free_terms_.push_back(doc_term.term);
    }
  }
  docs_[slot].terms.clear();
}

void TextIndex::Upsert(std::string_view key, bool demoted, const std::vector<TermWeight>& terms) {
  uint32_t slot;
  auto it = slot_of_.find(key);
  if (it != slot_of_.end()) {
    slot = it->second;
    ClearTerms(slot);
  } else {
    slot = TakeSlot(docs_, free_slots_);
    ANNALS_ASSERT(!docs_[slot].live);
    docs_[slot].key = key;
    docs_[slot].live = true;
    slot_of_.emplace(key, slot);
  }
  Doc& doc = docs_[slot];
  doc.demoted = demoted;
  doc.terms.reserve(terms.size());
  for (const TermWeight& term_weight : terms) {
    ANNALS_ASSERT(term_weight.weight > 0);
    uint32_t id = TermId(term_weight.term);
    auto& postings = terms_[id].postings;
    doc.terms.push_back({id, static_cast<uint32_t>(postings.size())});
    postings.push_back({slot, term_weight.weight});
  }
  std::sort(doc.terms.begin(), doc.terms.end(),
            [](const DocTerm& a, const DocTerm& b) { return a.term < b.term; });
  for (size_t i = 1; i < doc.terms.size(); ++i) {
    ANNALS_ASSERT(doc.terms[i - 1].term != doc.terms[i].term);  // terms must be distinct
  }
}

void TextIndex::Remove(std::string_view key) {
  auto it = slot_of_.find(key);
  if (it == slot_of_.end()) return;
  uint32_t slot = it->second;
  ClearTerms(slot);
  Doc& doc = docs_[slot];
  doc.key.clear();
  doc.key.shrink_to_fit();
  doc.live = false;
  doc.terms.shrink_to_fit();
  slot_of_.erase(it);
  free_slots_.push_back(slot);
}

TextIndex::Page TextIndex::Search(const std::vector<std::string>& terms, size_t offset,
                                  size_t limit) const {
  // Per-thread scratch: a score per slot (0: not matched yet) and the slots matched.
  thread_local std::vector<double> scratch_scores;
  thread_local std::vector<uint32_t> scratch_matched;
  std::vector<double>& scores = scratch_scores;  // resolved once, not per posting
  std::vector<uint32_t>& matched = scratch_matched;
  if (scores.size() < docs_.size()) scores.resize(docs_.size(), 0.0);
  matched.clear();
  const double documents = static_cast<double>(size());
  // Terms are added to each score in the order given, so equal term weights give bitwise
  // equal scores (the tie-break by key then decides).
  for (const std::string& text : terms) {
    auto it = term_of_.find(text);
    if (it == term_of_.end()) continue;
    const auto& postings = terms_[it->second].postings;
    double idf = std::log1p(documents / static_cast<double>(postings.size()));
    for (const Posting& posting : postings) {
      double& score = scores[posting.slot];
      if (score == 0.0) matched.push_back(posting.slot);
      score += posting.weight * idf;
    }
  }
  Page page;
  page.total = matched.size();
  if (offset >= matched.size() || limit == 0) {
    for (uint32_t slot : matched) scores[slot] = 0.0;
    return page;
  }
  const size_t end = offset + std::min(limit, matched.size() - offset);  // ranks [0, end)
  // The cut: the end-th best score. Only doubles are compared in this pass over every match.
  std::vector<double> best;  // a min-heap of the `end` best scores
  best.reserve(end);
  for (uint32_t slot : matched) {
    double score = scores[slot];
    if (best.size() < end) {
      best.push_back(score);
      std::push_heap(best.begin(), best.end(), std::greater<>());
    } else if (score > best.front()) {
      std::pop_heap(best.begin(), best.end(), std::greater<>());
      best.back() = score;
      std::push_heap(best.begin(), best.end(), std::greater<>());
    }
  }
  const double cut = best.front();
  // Every match above the cut is ranked before `end`; of those at the cut, the first by the
  // tie-break fill the rest. Keys are compared only here, among few matches.
  struct Candidate {
    double score;
    uint32_t slot;
  };
  std::vector<Candidate> above;
  std::vector<Candidate> at;
  for (uint32_t slot : matched) {
    double score = scores[slot];
    scores[slot] = 0.0;
    if (score > cut) {
      above.push_back({score, slot});
    } else if (score == cut) {
      at.push_back({score, slot});
    }
  }
  ANNALS_ASSERT(above.size() < end && above.size() + at.size() >= end);
  auto before = [this](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    const Doc& da = docs_[a.slot];
    const Doc& db = docs_[b.slot];
    if (da.demoted != db.demoted) return !da.demoted;
    return da.key < db.key;
  };
  std::sort(above.begin(), above.end(), before);
  const size_t from_at = end - above.size();
  std::partial_sort(at.begin(), at.begin() + static_cast<ptrdiff_t>(from_at), at.end(), before);
  above.insert(above.end(), at.begin(), at.begin() + static_cast<ptrdiff_t>(from_at));
  page.hits.reserve(end - offset);
  for (size_t i = offset; i < end; ++i) {
    page.hits.push_back({docs_[above[i].slot].key, above[i].score});
  }
  return page;
}

}  // namespace annals::projections::internal
