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
// Streaming one array: a manifest lists every file of the host, tens of
// thousands at scale, and a whole tree of it costs ~25 bytes of memory per
// byte of JSON. Built with `streamed_key`, the document leaves out the
// elements of the root object's array under that key (root() holds it
// empty); ForEachStreamed then parses the text again and hands over those
// elements one at a time, each its own small tree freed after the call. So
// what is held at once is the rest of the document and one element.
//
// Errors: the constructor throws bkp::Error(BKP_E_CORRUPT) naming `what`
// for invalid JSON, nesting deeper than kMaxJsonDepth (the tear-down
// recurses), and BKP_E_INTERNAL "out of memory" when parsing exhausts
// memory. Thread-safety: none needed (one owner).
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace repo {

inline constexpr int kMaxJsonDepth = 64;

class JsonDocument {
 public:
  JsonDocument(const std::string& text, const std::string& what);
  // As above, streaming the array under the root's `streamed_key` (see
  // above). The document keeps a reference to `text`: it must outlive the
  // document.
  JsonDocument(const std::string& text, const std::string& what, const char* streamed_key);
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  const nlohmann::json& root() const { return root_; }

  // Calls `each` with every element of the streamed array, in order (none
  // when the document was built without a streamed key, or the root holds
  // no such array). Where the key appears more than once, the last one is
  // the array, as root() keeps the last of duplicate keys. Throws what
  // `each` throws; out of memory is BKP_E_INTERNAL as above.
  void ForEachStreamed(const std::function<void(const nlohmann::json&)>& each) const;

 private:
  void Parse(const std::string& text, const std::string& what);

  nlohmann::json root_;
  const std::string* text_ = nullptr;
  std::string what_;
  std::string streamed_key_;
  // How many times the root names streamed_key_ with an array (the last
  // one is streamed), 0 when it does not.
  size_t streamed_arrays_ = 0;
};

}  // namespace repo
