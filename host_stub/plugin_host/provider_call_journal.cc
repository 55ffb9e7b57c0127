// The provider call journal (see provider_call_journal.h).
#include "plugin_host/provider_call_journal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>

namespace hoststub {
namespace {

namespace fs = std::filesystem;

// The record files of the calls in progress, by slot, as fd + 1 (0: free):
// the signal handler may only touch these (async-signal-safe), never
// allocate or lock.
constexpr size_t kSlots = 64;
std::array<std::atomic<int>, kSlots> g_slots{};

std::mutex g_mu;  // guards g_dir
fs::path g_dir;   // empty: not enabled
std::atomic<bool> g_enabled{false};
std::atomic<uint64_t> g_counter{0};

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

fs::path CallsDir(const fs::path& data_dir) { return data_dir / "provider-calls"; }
fs::path DisabledMarker(const fs::path& data_dir, std::string_view name) {
  return CallsDir(data_dir) / (std::string(name) + ".disabled");
}

// Marks every call in progress as crashed, then dies of the signal as it
// would have without us (SA_RESETHAND restored the default action).
void OnFatalSignal(int sig) {
  char line[32] = "crashed=";
  int n = 8;
  // The signal number, by hand: snprintf is not async-signal-safe.
  char digits[8];
  int d = 0;
  for (int v = sig; v > 0 && d < 8; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  while (d > 0) line[n++] = digits[--d];
  line[n++] = '\n';
  for (auto& slot : g_slots) {
    const int fd = slot.load() - 1;
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, line, static_cast<size_t>(n));
      (void)ignored;
    }
  }
  ::raise(sig);
}

std::string ReadWhole(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of `key=` in a record, or "".
std::string JournalField(const std::string& text, const std::string& key) {
  const std::string needle = key + "=";
  size_t at = text.rfind("\n" + needle);
  if (at != std::string::npos) {
    at += 1;
  } else if (text.rfind(needle, 0) == 0) {
    at = 0;
  } else {
    return "";
  }
  const size_t start = at + needle.size();
  return text.substr(start, text.find('\n', start) - start);
}

bool WriteFileSynced(const fs::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Status ProviderCallJournal::Enable(const fs::path& data_dir) {
  // The directory is made by the first call: a host that stops before it
  // calls a provider (a plugin that does not load) leaves no data directory.
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_dir = CallsDir(data_dir);
  }
  struct sigaction action {};
  action.sa_handler = OnFatalSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = static_cast<int>(SA_RESETHAND | SA_NODEFER);
  for (int sig : kFatalSignals) ::sigaction(sig, &action, nullptr);
  g_enabled.store(true);
  return Status::OK();
}

void ProviderCallJournal::Disable() {
  g_enabled.store(false);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int sig : kFatalSignals) ::sigaction(sig, &action, nullptr);
  std::lock_guard<std::mutex> lock(g_mu);
  g_dir.clear();
}

ProviderCallJournal::Call::Call(std::string_view provider, std::string_view what) {
  if (!g_enabled.load()) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_dir.empty()) return;
    file_ = g_dir /
            (std::to_string(::getpid()) + "-" + std::to_string(g_counter.fetch_add(1)) + ".call");
  }
  int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(file_.parent_path(), ec);
    fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  }
  if (fd < 0) {
    file_.clear();
    return;
  }
  const std::string text =
      "provider=" + std::string(provider) + "\ncall=" + std::string(what) + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    ::unlink(file_.c_str());
    file_.clear();
    return;
  }
  for (size_t i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].compare_exchange_strong(expected, fd + 1)) {
      slot_ = static_cast<int>(i);
      return;
    }
  }
  // More concurrent calls than slots: this one goes unrecorded.
  ::close(fd);
  ::unlink(file_.c_str());
  file_.clear();
}

ProviderCallJournal::Call::~Call() {
  if (slot_ < 0) return;
  const int fd = g_slots[static_cast<size_t>(slot_)].exchange(0) - 1;
  ::unlink(file_.c_str());
  if (fd >= 0) ::close(fd);
}

Result<std::vector<DisabledProvider>> SettleProviderCalls(const fs::path& data_dir,
                                                          std::vector<std::string>* notes) {
  const fs::path dir = CallsDir(data_dir);
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".call") continue;
      const std::string text = ReadWhole(entry.path());
      const std::string provider = JournalField(text, "provider");
      const std::string call = JournalField(text, "call");
      const std::string crashed = JournalField(text, "crashed");
      if (!provider.empty() && !crashed.empty()) {
        const std::string reason = "the host crashed (signal " + crashed + ") during its call '" +
                                   call + "' (record " + entry.path().filename().string() + ")";
        if (!WriteFileSynced(DisabledMarker(data_dir, provider), reason + "\n")) {
          return Status::IOError("cannot write '" + DisabledMarker(data_dir, provider).string() +
                                 "': " + std::strerror(errno));
        }
      } else if (notes != nullptr && !provider.empty()) {
        notes->push_back("the host stopped during call '" + call + "' of provider '" + provider +
                         "' without crashing (killed, or the machine stopped): provider kept "
                         "enabled");
      }
      fs::remove(entry.path(), ec);
    }
    if (ec) return Status::IOError("cannot list '" + dir.string() + "': " + ec.message());
  }
  return DisabledProviders(data_dir);
}

std::vector<DisabledProvider> DisabledProviders(const fs::path& data_dir) {
  std::vector<DisabledProvider> out;
  std::error_code ec;
  const fs::path dir = CallsDir(data_dir);
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".disabled") continue;
    std::string reason = ReadWhole(entry.path());
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    out.push_back({entry.path().stem().string(), reason});
  }
  return out;
}

Status EnableProvider(const fs::path& data_dir, std::string_view name) {
  const fs::path marker = DisabledMarker(data_dir, name);
  std::error_code ec;
  if (!fs::remove(marker, ec)) {
    if (ec) return Status::IOError("cannot remove '" + marker.string() + "': " + ec.message());
    return Status::NotFound("provider '" + std::string(name) + "' is not disabled (no " +
                            marker.string() + ")");
  }
  return Status::OK();
}

}  // namespace hoststub
