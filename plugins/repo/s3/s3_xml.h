// Just enough XML for S3's REST API: S3 answers in small, flat documents
// (no CDATA, no nesting of an element in one of the same name), so reading
// one is finding elements by name and decoding the five entities and
// character references; writing one is escaping text.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace repo::s3 {

// The content of every <tag ...>...</tag> in `xml`, in document order, raw
// (still escaped; nested elements included). `<tag/>` counts, as "".
std::vector<std::string> XmlElements(const std::string& xml, const std::string& tag);
// The decoded text of the first <tag>, or nullopt when there is none.
std::optional<std::string> XmlText(const std::string& xml, const std::string& tag);
// `text` with &, <, >, " and ' escaped, for element content.
std::string XmlEscape(const std::string& text);
// `text` with entities and character references decoded.
std::string XmlUnescape(const std::string& text);

}  // namespace repo::s3
