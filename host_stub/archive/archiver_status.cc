// Names of the archiver's states (see archiver_status.h).
#include "archive/archiver_status.h"

namespace hoststub {

const char* ArchiverStateName(ArchiverState state) {
  switch (state) {
    case ArchiverState::kStarting:
      return "starting";
    case ArchiverState::kArchiving:
      return "archiving";
    case ArchiverState::kRetrying:
      return "retrying";
    case ArchiverState::kStopped:
      return "stopped";
  }
  return "unknown";
}

}  // namespace hoststub
