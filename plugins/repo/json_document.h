// JsonDocument: a parsed JSON document of the repository (a manifest, an
// archive record) that running out of memory cannot turn into a crash.
//
// Why: nlohmann::json's destructor is noexcept, yet frees a container by
// first moving its children to a heap-allocated stack (json_value::destroy,
// `stack.reserve(array->size())`). When json::parse runs out of memory, its
// half-built result is destroyed during unwinding, that reserve throws
// std::bad_alloc a second time inside the noexcept destructor, and the
// process ends in std::terminate. A JsonDocument keeps the half-built tree
// in a member and takes it apart leaf by leaf, which allocates nothing, so
// the bad_alloc reaches the caller as an error.
//
// Errors: the constructor throws bkp::Error(BKP_E_CORRUPT) naming `what`
// for invalid JSON, nesting deeper than kMaxJsonDepth (the tear-down
// recurses), and BKP_E_INTERNAL "out of memory" when parsing exhausts
// memory. Thread-safety: none needed (one owner).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace repo {

inline constexpr int kMaxJsonDepth = 64;

class JsonDocument {
 public:
  JsonDocument(const std::string& text, const std::string& what);
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  const nlohmann::json& root() const { return root_; }

 private:
  nlohmann::json root_;
};

}  // namespace repo
