// JsonDocument (see json_document.h).
#include "repo/json_document.h"

#include <new>

#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

using nlohmann::json;

// Frees `j`'s children deepest first, so no container is destroyed with
// children left (which is what allocates in json's destructor).
void TearDown(json& j) noexcept {
  if (j.is_array()) {
    while (!j.empty()) {
      TearDown(j.back());
      j.erase(j.size() - 1);
    }
  } else if (j.is_object()) {
    while (!j.empty()) {
      auto it = j.begin();
      TearDown(it.value());
      j.erase(it);
    }
  }
}

// The deepest nesting of `text`, outside strings; stops counting past
// kMaxJsonDepth.
int NestingDepth(const std::string& text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

JsonDocument::JsonDocument(const std::string& text, const std::string& what) {
  if (NestingDepth(text) > kMaxJsonDepth) {
    throw bkp::Error(BKP_E_CORRUPT,
                     what + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    // The DOM builder fills root_ in place (json::parse would build into a
    // local destroyed while unwinding; see json_document.h).
    nlohmann::detail::json_sax_dom_parser<json> builder(root_, true);
    json::sax_parse(text, &builder);
  } catch (const json::exception& e) {
    TearDown(root_);
    throw bkp::Error(BKP_E_CORRUPT, what + ": not valid JSON (" + e.what() + ")");
  } catch (const std::bad_alloc&) {
    TearDown(root_);
    throw bkp::Error(BKP_E_INTERNAL, what + ": out of memory while parsing its " +
                                         std::to_string(text.size()) + " bytes");
  }
}

JsonDocument::~JsonDocument() { TearDown(root_); }

}  // namespace repo
