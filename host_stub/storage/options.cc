// Names of the storage options' enumerations, for config files and messages.
#include "storage/options.h"

namespace hoststub {

const char* FsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kBatch:
      return "batch";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "unknown";
}

}  // namespace hoststub
