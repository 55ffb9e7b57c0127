// The service manager's readiness protocol for `hostd serve` under systemd
// (Type=notify, packaging/hostd.service): READY=1 once the admin API
// listens, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 when a
// stop begins. Sent with libsystemd's sd_notify to the socket named by
// NOTIFY_SOCKET; without it (not started by systemd) nothing is sent.
//
// Thread-safety: call from the main thread (sd_notify is safe anywhere, but
// the order of the states is the main loop's).
#pragma once

#include <string_view>

namespace hostd {

// Sends `state` (newline-separated VAR=VALUE assignments). A failed send is
// logged as a WARN, never fatal: the host serves either way, and systemd
// reports a unit that never became ready by its start timeout.
void NotifyServiceManager(std::string_view state);

}  // namespace hostd
