// JsonDocument (see json_document.h).
#include "repo/json_document.h"

#include <new>
#include <optional>

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

using DomBuilder = nlohmann::detail::json_sax_dom_parser<json>;

// Where the parser is, for the streamed array: which container depth it is
// at, and whether inside the array under the root's streamed key. Both
// passes over the text share it, so they agree on what is an element.
class StreamedArrayTracker {
 public:
  explicit StreamedArrayTracker(const std::string& key) : key_(key) {}

  // Before an event: whether it belongs to an element of the streamed
  // array, and which of the arrays under that key (1 = the first).
  bool InElement() const { return in_array_ && depth_ >= 2 && !closing_array_; }
  size_t ordinal() const { return arrays_; }
  // Whether the last time the root named the key, it held an array.
  bool LastWasArray() const { return last_was_array_; }

  void Key(const std::string& k) {
    if (depth_ == 1) top_key_ = k;
  }
  // A scalar value: returns whether it was a whole element.
  bool Scalar() {
    NoteTopValue(false);
    return in_array_ && depth_ == 2;
  }
  void Start(bool array) {
    NoteTopValue(array);
    if (array && depth_ == 1 && root_is_object_ && top_key_ == key_) {
      in_array_ = true;
      ++arrays_;
    }
    if (depth_ == 0) root_is_object_ = !array;
    ++depth_;
  }
  // Before the end event's forwarding: whether it closes the array itself.
  void BeforeEnd() { closing_array_ = in_array_ && depth_ == 2; }
  // After it: returns whether it closed a whole element.
  bool End() {
    --depth_;
    if (closing_array_) {
      in_array_ = false;
      closing_array_ = false;
      return false;
    }
    return in_array_ && depth_ == 2;
  }

 private:
  void NoteTopValue(bool array) {
    if (depth_ == 1 && root_is_object_ && top_key_ == key_) last_was_array_ = array;
  }

  const std::string key_;
  std::string top_key_;
  int depth_ = 0;
  bool root_is_object_ = false;
  bool in_array_ = false;
  bool closing_array_ = false;
  bool last_was_array_ = false;
  size_t arrays_ = 0;
};

// Pass one: the whole document into `builder`, less the streamed elements
// (their events are dropped; the array stays, empty).
class SkippingHandler {
 public:
  SkippingHandler(DomBuilder& builder, StreamedArrayTracker& tracker)
      : builder_(builder), tracker_(tracker) {}

  bool null() {
    return Scalar([&] { return builder_.null(); });
  }
  bool boolean(bool v) {
    return Scalar([&] { return builder_.boolean(v); });
  }
  bool number_integer(json::number_integer_t v) {
    return Scalar([&] { return builder_.number_integer(v); });
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return Scalar([&] { return builder_.number_unsigned(v); });
  }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return Scalar([&] { return builder_.number_float(v, s); });
  }
  bool string(json::string_t& v) {
    return Scalar([&] { return builder_.string(v); });
  }
  bool binary(json::binary_t& v) {
    return Scalar([&] { return builder_.binary(v); });
  }
  bool start_object(std::size_t n) {
    return Start(false, [&] { return builder_.start_object(n); });
  }
  bool start_array(std::size_t n) {
    return Start(true, [&] { return builder_.start_array(n); });
  }
  bool end_object() {
    return End([&] { return builder_.end_object(); });
  }
  bool end_array() {
    return End([&] { return builder_.end_array(); });
  }
  bool key(json::string_t& k) {
    if (tracker_.InElement()) return true;
    tracker_.Key(k);
    return builder_.key(k);
  }
  bool parse_error(std::size_t at, const std::string& token, const nlohmann::detail::exception& e) {
    return builder_.parse_error(at, token, e);
  }

 private:
  template <typename F>
  bool Scalar(F forward) {
    const bool skip = tracker_.InElement();
    tracker_.Scalar();
    return skip || forward();
  }
  template <typename F>
  bool Start(bool array, F forward) {
    const bool skip = tracker_.InElement();
    tracker_.Start(array);
    return skip || forward();
  }
  template <typename F>
  bool End(F forward) {
    tracker_.BeforeEnd();
    const bool skip = tracker_.InElement();
    tracker_.End();
    return skip || forward();
  }

  DomBuilder& builder_;
  StreamedArrayTracker& tracker_;
};

// Pass two: each element of the `wanted`th streamed array into a tree of
// its own, handed to `each` and taken apart as soon as it is whole.
class ElementHandler {
 public:
  ElementHandler(StreamedArrayTracker& tracker, size_t wanted,
                 const std::function<void(const json&)>& each)
      : tracker_(tracker), wanted_(wanted), each_(each) {}
  ~ElementHandler() { TearDown(element_); }
  ElementHandler(const ElementHandler&) = delete;
  ElementHandler& operator=(const ElementHandler&) = delete;

  bool null() {
    return Scalar([&](DomBuilder& b) { return b.null(); });
  }
  bool boolean(bool v) {
    return Scalar([&](DomBuilder& b) { return b.boolean(v); });
  }
  bool number_integer(json::number_integer_t v) {
    return Scalar([&](DomBuilder& b) { return b.number_integer(v); });
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return Scalar([&](DomBuilder& b) { return b.number_unsigned(v); });
  }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return Scalar([&](DomBuilder& b) { return b.number_float(v, s); });
  }
  bool string(json::string_t& v) {
    return Scalar([&](DomBuilder& b) { return b.string(v); });
  }
  bool binary(json::binary_t& v) {
    return Scalar([&](DomBuilder& b) { return b.binary(v); });
  }
  bool start_object(std::size_t n) {
    return Start(false, [&](DomBuilder& b) { return b.start_object(n); });
  }
  bool start_array(std::size_t n) {
    return Start(true, [&](DomBuilder& b) { return b.start_array(n); });
  }
  bool end_object() {
    return End([&](DomBuilder& b) { return b.end_object(); });
  }
  bool end_array() {
    return End([&](DomBuilder& b) { return b.end_array(); });
  }
  bool key(json::string_t& k) {
    if (Wanted()) return Builder().key(k);
    tracker_.Key(k);
    return true;
  }
  // Pass one parsed the same text without an error.
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  bool Wanted() const { return tracker_.InElement() && tracker_.ordinal() == wanted_; }
  DomBuilder& Builder() {
    if (!builder_) builder_.emplace(element_, true);
    return *builder_;
  }
  void Deliver() {
    builder_.reset();
    each_(element_);
    TearDown(element_);
    element_ = json();
  }
  template <typename F>
  bool Scalar(F forward) {
    const bool wanted = Wanted();
    if (wanted) forward(Builder());
    if (tracker_.Scalar() && wanted) Deliver();
    return true;
  }
  template <typename F>
  bool Start(bool array, F forward) {
    const bool wanted = Wanted();
    tracker_.Start(array);
    if (wanted) forward(Builder());
    return true;
  }
  template <typename F>
  bool End(F forward) {
    tracker_.BeforeEnd();
    const bool wanted = Wanted();
    if (wanted) forward(Builder());
    if (tracker_.End() && wanted) Deliver();
    return true;
  }

  StreamedArrayTracker& tracker_;
  const size_t wanted_;
  const std::function<void(const json&)>& each_;
  json element_;
  std::optional<DomBuilder> builder_;
};

}  // namespace

JsonDocument::JsonDocument(const std::string& text, const std::string& what) { Parse(text, what); }

JsonDocument::JsonDocument(const std::string& text, const std::string& what,
                           const char* streamed_key)
    : text_(&text), what_(what), streamed_key_(streamed_key) {
  Parse(text, what);
}

void JsonDocument::Parse(const std::string& text, const std::string& what) {
  if (NestingDepth(text) > kMaxJsonDepth) {
    throw bkp::Error(BKP_E_CORRUPT,
                     what + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    // The DOM builder fills root_ in place (json::parse would build into a
    // local destroyed while unwinding; see json_document.h).
    DomBuilder builder(root_, true);
    if (text_ == nullptr) {
      json::sax_parse(text, &builder);
    } else {
      StreamedArrayTracker tracker(streamed_key_);
      SkippingHandler skipping(builder, tracker);
      json::sax_parse(text, &skipping);
      streamed_arrays_ = tracker.LastWasArray() ? tracker.ordinal() : 0;
    }
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

void JsonDocument::ForEachStreamed(const std::function<void(const json&)>& each) const {
  if (text_ == nullptr || streamed_arrays_ == 0) return;
  StreamedArrayTracker tracker(streamed_key_);
  ElementHandler handler(tracker, streamed_arrays_, each);
  try {
    json::sax_parse(*text_, &handler);
  } catch (const std::bad_alloc&) {
    throw bkp::Error(BKP_E_INTERNAL, what_ + ": out of memory while parsing its " +
                                         std::to_string(text_->size()) + " bytes");
  }
}

}  // namespace repo
