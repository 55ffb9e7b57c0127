// The whole-object helpers every driver gets.
#include "repo/storage_driver.h"

#include "bkp/bkp_plugin.hpp"

namespace repo {

void StorageDriver::PutSmall(const std::string& key, const std::string& content) {
  auto writer = CreateAt(key);
  writer->Append(content.data(), content.size());
  writer->Commit(key);
}

void StorageDriver::CommitBatch(std::vector<PendingObject>& batch) {
  for (auto& pending : batch) pending.writer->Commit(pending.key);
}

std::string StorageDriver::GetSmall(const std::string& key, uint64_t max_bytes) {
  auto reader = Open(key);
  if (reader->size() > max_bytes) {
    throw bkp::Error(BKP_E_CORRUPT, "'" + key + "' in " + Describe() + " is " +
                                        std::to_string(reader->size()) + " bytes, more than the " +
                                        std::to_string(max_bytes >> 20) +
                                        " MiB it may be: not read");
  }
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
