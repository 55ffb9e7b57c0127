// sd_notify for hostd serve (hostd_notify.h).
#include "cli/hostd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "util/log.h"

namespace hostd {

void NotifyServiceManager(std::string_view state) {
  const std::string text(state);
  // unset_environment = 0: every later state goes to the same socket.
  const int sent = sd_notify(0, text.c_str());
  if (sent < 0) {
    hoststub::LogWarn(
        fmt::format("cannot tell the service manager '{}': {}", text, std::strerror(-sent)));
  }
}

}  // namespace hostd
