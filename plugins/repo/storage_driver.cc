// The whole-object helpers every driver gets.
#include "storage_driver.h"

namespace repo {

void StorageDriver::PutSmall(const std::string& key, const std::string& content) {
  auto writer = CreateAt(key);
  writer->Append(content.data(), content.size());
  writer->Commit(key);
}

std::string StorageDriver::GetSmall(const std::string& key) {
  auto reader = Open(key);
  std::string out(reader->size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    size_t n = reader->Read(out.data() + done, out.size() - done);
    if (n == 0) break;
    done += n;
  }
  out.resize(done);
  return out;
}

}  // namespace repo
