// BackupCoordinator in-process: a real EventStore on a scratch directory and
// a real registry loading the shipped `null` provider and the fx_blocking
// fixture (a backup that waits until the test releases or cancels it, so
// busy and cancel are tested without sleeps). Each test waits by polling
// with a bounded deadline, never by sleeping a guessed time.
#include "backup/coordinator.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host_stub/storage_test_util.h"
#include "test_support.h"
#include "util/thread_priority.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::TempDir;
namespace fs = std::filesystem;

using testing_support::Contains;

namespace {

constexpr auto kCoordinatorDeadline = std::chrono::seconds(60);

std::string BlockingPlugin() {
  return (fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so").string();
}

// [[providers]] entries: "null" (the shipped provider, small reads so a
// backup reports progress often) and, when `release_file` is given, "slow"
// (fx_blocking).
std::string ProvidersToml(const fs::path& release_file = {}, int verify_problems = 0) {
  std::string toml =
      "[[providers]]\nname = 'null'\nplugin = 'null'\n[providers.settings]\nbuffer_kib = 4\n";
  if (!release_file.empty()) {
    toml += "[[providers]]\nname = 'slow'\nplugin = '" + BlockingPlugin() +
            "'\n[providers.settings]\nrelease_file = '" + release_file.string() +
            "'\nverify_problems = " + std::to_string(verify_problems) + "\n";
  }
  return toml;
}

// Keeps what providers logged; plugins may log from any thread.
class LogLines {
 public:
  ProviderLogFn Fn() {
    return [this](std::string_view provider, int32_t, std::string_view message) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(std::string(provider) + ": " + std::string(message));
    };
  }
  bool Has(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& line : lines_) {
      if (Contains(line, text)) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

ProviderRegistry LoadProviders(const std::string& providers_toml, ProviderLogFn log) {
  auto config = ParseHostConfig(
      "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) + "'\n" + providers_toml, "host.toml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  auto registry = ProviderRegistry::Load(*config, std::move(log));
  REQUIRE_MESSAGE(registry.ok(), registry.status().ToString());
  return std::move(registry).value();
}

// Polls the coordinator until `done` holds for its snapshot, or fails.
OperationSnapshot WaitUntil(const BackupCoordinator& coordinator,
                            const std::function<bool(const OperationSnapshot&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kCoordinatorDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperationSnapshot> op = coordinator.Current();
    if (op && done(*op)) return *op;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  FAIL("the operation never reached the state waited for");
  return {};
}

OperationSnapshot WaitFinished(const BackupCoordinator& coordinator) {
  std::optional<OperationSnapshot> op = coordinator.WaitIdle(kCoordinatorDeadline);
  REQUIRE(op.has_value());
  REQUIRE_MESSAGE(!op->running(), "still running: " << op->Describe());
  return *op;
}

bool InEventsPhase(const OperationSnapshot& op) { return op.phase == BKP_PHASE_EVENTS; }

// The order the null provider walks the phases in.
int PhaseRank(uint32_t phase) {
  switch (phase) {
    case 0:
      return 0;
    case BKP_PHASE_CONTROL_DB:
      return 1;
    case BKP_PHASE_LOG:
      return 2;
    case BKP_PHASE_EVENTS:
      return 3;
    case BKP_PHASE_SNAPSHOTS:
      return 4;
    case BKP_PHASE_FINISHING:
      return 5;
    default:
      return 99;
  }
}

}  // namespace

TEST_CASE("coordinator: a null backup succeeds with monotone progress and the source's totals") {
  TempDir dir;
  StorageOptions options = Options(dir / "data");
  options.event_segment_bytes = 256 << 10;  // several segments per context
  options.log_segment_bytes = 256 << 10;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "orders", 3000, std::string(300, 'o'));
  AppendNumbered(*store, "users", 1000, std::string(200, 'u'));
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(), log.Fn());
  BackupCoordinator coordinator(*store, providers);
  CHECK_FALSE(coordinator.Current().has_value());

  Result<OperationSnapshot> started = coordinator.StartBackup("null", BKP_BACKUP_FULL);
  REQUIRE_MESSAGE(started.ok(), started.status().ToString());
  CHECK(started->id == 1);
  CHECK(started->kind == OperationKind::kBackup);
  CHECK(started->provider == "null");

  // Whatever moments the polls catch, nothing may go backwards.
  OperationSnapshot last = *started;
  OperationSnapshot op = WaitUntil(coordinator, [&](const OperationSnapshot& now) {
    CHECK(now.bytes_done >= last.bytes_done);
    CHECK(now.files_done >= last.files_done);
    CHECK(PhaseRank(now.phase) >= PhaseRank(last.phase));
    CHECK(now.bytes_done <= std::max(now.bytes_total, last.bytes_total));
    last = now;
    return !now.running();
  });
  INFO(op.Describe() << ": " << op.error.ToString());
  REQUIRE(op.state == OperationState::kSucceeded);
  CHECK(Contains(op.backup_id, "null-"));
  CHECK(op.phase == BKP_PHASE_FINISHING);

  // The totals are what the source offered: the control DB and every segment.
  uint64_t segments = 0;
  for (const std::string& context : store->Contexts()) {
    for (auto role : {StreamRole::kLog, StreamRole::kEvents, StreamRole::kSnapshots}) {
      auto listed = store->Segments(context, role);
      REQUIRE(listed.ok());
      segments += listed->size();
    }
  }
  CHECK(segments > 4);
  CHECK(op.files_total == 1 + segments);
  CHECK(op.files_done == op.files_total);
  CHECK(op.files == op.files_total);
  CHECK(op.bytes_total > 1'000'000);
  CHECK(op.bytes_done == op.bytes_total);
  CHECK(op.bytes_read == op.bytes_total);
  CHECK(op.finished >= op.started);
  CHECK(op.error.ok());
  // The source's scratch space went with the backup.
  CHECK_FALSE(fs::exists(options.data_dir / ".backup-tmp"));
}

TEST_CASE("coordinator: while a backup runs every other operation is Busy naming it") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 50);
  const fs::path release = dir / "release";
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(release), log.Fn());
  BackupCoordinator coordinator(*store, providers);

  Result<OperationSnapshot> first = coordinator.StartBackup("slow", BKP_BACKUP_FULL);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  const OperationSnapshot running = WaitUntil(coordinator, InEventsPhase);
  CHECK(running.running());
  CHECK(running.bytes_total > 0);
  CHECK(running.bytes_done == running.bytes_total / 2);

  Result<OperationSnapshot> second = coordinator.StartBackup("null", BKP_BACKUP_FULL);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Status::Code::kBusy);
  const std::string& message = second.status().message();
  INFO(message);
  CHECK(Contains(message, "backup in progress: operation " + std::to_string(first->id) +
                              " (backup via provider 'slow', started "));
  CHECK(Contains(message, "phase events"));
  CHECK(Contains(message, "hostctl cancel"));

  CHECK(coordinator.Verify("slow", "").status().code() == Status::Code::kBusy);
  CHECK(coordinator.Delete("slow", "blocking-1").code() == Status::Code::kBusy);
  CHECK(coordinator.Expire("slow", {.keep_last = 1}).status().code() == Status::Code::kBusy);
  // A list is read-only: answered at once through an instance of its own
  // (fx_blocking keeps its backups in memory per instance, hence none yet),
  // rather than refused or made to wait for the whole backup.
  Result<std::vector<BackupListing>> listed = coordinator.List("slow");
  REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
  CHECK(listed->empty());
  CHECK(coordinator.Current()->running());
  // The refused requests did not replace the running operation.
  CHECK(coordinator.Current()->id == first->id);

  testing_support::WriteFile(release, "go\n");
  const OperationSnapshot done = WaitFinished(coordinator);
  INFO(done.error.ToString());
  REQUIRE(done.state == OperationState::kSucceeded);
  CHECK(done.backup_id == "blocking-1");
  CHECK(done.phase == BKP_PHASE_FINISHING);

  listed = coordinator.List("slow");
  REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].id == "blocking-1");
  CHECK((*listed)[0].details == R"({"fixture":true})");

  // The slot is free again.
  Result<OperationSnapshot> third = coordinator.StartBackup("null", BKP_BACKUP_FULL);
  REQUIRE_MESSAGE(third.ok(), third.status().ToString());
  CHECK(third->id == first->id + 1);
  CHECK(WaitFinished(coordinator).state == OperationState::kSucceeded);
}

TEST_CASE(
    "coordinator: cancel stops the backup, the provider saw op_cancelled, no backup is left") {
  TempDir dir;
  StorageOptions options = Options(dir / "data");
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "orders", 50);
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(dir / "release"), log.Fn());
  BackupCoordinator coordinator(*store, providers);

  CHECK(coordinator.Cancel().status().code() == Status::Code::kNotFound);
  REQUIRE(coordinator.StartBackup("slow", BKP_BACKUP_FULL).ok());
  WaitUntil(coordinator, InEventsPhase);

  Result<OperationSnapshot> cancelling = coordinator.Cancel();
  REQUIRE_MESSAGE(cancelling.ok(), cancelling.status().ToString());
  CHECK(cancelling->cancel_requested);

  const OperationSnapshot op = WaitFinished(coordinator);
  INFO(op.Describe());
  CHECK(op.state == OperationState::kCancelled);
  CHECK(op.cancel_requested);
  CHECK(op.error.code() == Status::Code::kCancelled);
  CHECK(Contains(op.error.message(), "provider 'slow'"));
  CHECK(Contains(op.error.message(), "saw op_cancelled"));
  CHECK(log.Has("slow: fx_blocking: saw op_cancelled"));
  CHECK(op.backup_id.empty());

  Result<std::vector<BackupListing>> listed = coordinator.List("slow");
  REQUIRE(listed.ok());
  CHECK(listed->empty());
  CHECK_FALSE(fs::exists(options.data_dir / ".backup-tmp"));
  // Nothing runs any more.
  Result<OperationSnapshot> again = coordinator.Cancel();
  CHECK(again.status().code() == Status::Code::kNotFound);
  CHECK(Contains(again.status().message(), "already ended"));
}

TEST_CASE("coordinator: the destructor cancels a running backup and waits for it") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 10);
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(dir / "release"), log.Fn());
  std::vector<OperationSnapshot> ended;
  {
    BackupCoordinator coordinator(*store, providers, [&](const OperationSnapshot& op) {
      if (!op.running()) ended.push_back(op);
    });
    REQUIRE(coordinator.StartBackup("slow", BKP_BACKUP_FULL).ok());
    WaitUntil(coordinator, InEventsPhase);
  }
  // Joined: the provider has returned, and said why.
  CHECK(log.Has("fx_blocking: saw op_cancelled"));
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].state == OperationState::kCancelled);
}

TEST_CASE(
    "coordinator: verify collects every problem, delete and expire map the provider's codes") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 10);
  const fs::path release = dir / "release";
  testing_support::WriteFile(release, "go\n");  // backups finish at once
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(release, 2), log.Fn());
  BackupCoordinator coordinator(*store, providers);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(coordinator.StartBackup("slow", BKP_BACKUP_FULL).ok());
    REQUIRE(WaitFinished(coordinator).state == OperationState::kSucceeded);
  }

  Result<VerifyReport> report = coordinator.Verify("slow", "blocking-2");
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK_FALSE(report->ok());
  REQUIRE(report->problems.size() == 2);
  CHECK(report->problems[0].status == BKP_E_CORRUPT);
  CHECK(report->problems[0].backup_id == "blocking-2");
  CHECK(report->problems[0].file == "file-0");
  CHECK(report->problems[1].file == "file-1");
  CHECK(report->problems[1].message == "checksum mismatch (fixture)");
  CHECK(Contains(report->summary, "provider 'slow'"));
  // Damaged backups are not a successful operation.
  std::optional<OperationSnapshot> op = coordinator.Current();
  CHECK(op->kind == OperationKind::kVerify);
  CHECK(op->backup_id == "blocking-2");
  CHECK(op->state == OperationState::kFailed);
  CHECK(op->error.code() == Status::Code::kCorruption);
  CHECK(Contains(op->error.message(), "2 problem(s)"));

  Result<VerifyReport> missing = coordinator.Verify("slow", "nope");
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(Contains(missing.status().message(), "provider 'slow': verify of backup 'nope' failed"));
  CHECK(Contains(missing.status().message(), "[BKP_E_NOT_FOUND]"));

  Status deleted = coordinator.Delete("slow", "nope");
  CHECK(deleted.code() == Status::Code::kNotFound);
  CHECK(Contains(deleted.message(), "delete of backup 'nope'"));
  REQUIRE(coordinator.Delete("slow", "blocking-1").ok());
  CHECK(coordinator.Current()->kind == OperationKind::kDelete);
  CHECK(coordinator.Current()->state == OperationState::kSucceeded);
  CHECK(coordinator.List("slow")->size() == 2);

  CHECK(coordinator.Expire("slow", {}).status().code() == Status::Code::kInvalidArgument);
  Result<std::vector<BackupListing>> removed = coordinator.Expire("slow", {.keep_last = 1});
  REQUIRE_MESSAGE(removed.ok(), removed.status().ToString());
  REQUIRE(removed->size() == 1);
  CHECK((*removed)[0].id == "blocking-2");
  Result<std::vector<BackupListing>> left = coordinator.List("slow");
  REQUIRE(left->size() == 1);
  CHECK((*left)[0].id == "blocking-3");
}

TEST_CASE("coordinator: unknown providers and missing capabilities are refused up front") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(), log.Fn());
  BackupCoordinator coordinator(*store, providers);

  Result<std::shared_ptr<LoadedProvider>> only = coordinator.ResolveProvider("");
  REQUIRE(only.ok());
  CHECK((*only)->name() == "null");

  Result<OperationSnapshot> unknown = coordinator.StartBackup("nope", BKP_BACKUP_FULL);
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK(Contains(unknown.status().message(), "unknown backup provider 'nope'"));
  CHECK(Contains(unknown.status().message(), "'null'"));

  Result<OperationSnapshot> incremental = coordinator.StartBackup("null", BKP_BACKUP_INCREMENTAL);
  CHECK(incremental.status().code() == Status::Code::kUnsupported);
  CHECK(Contains(incremental.status().message(), "cannot take incremental backups"));

  Result<std::vector<BackupListing>> listed = coordinator.List("null");
  CHECK(listed.status().code() == Status::Code::kUnsupported);
  CHECK(Contains(listed.status().message(), "provider 'null' (plugin null) cannot list backups"));
  CHECK(coordinator.Verify("null", "").status().code() == Status::Code::kUnsupported);
  // None of that counts as an operation.
  CHECK_FALSE(coordinator.Current().has_value());

  ProviderRegistry two = LoadProviders(ProvidersToml(dir / "release"), log.Fn());
  BackupCoordinator with_two(*store, two);
  Result<std::shared_ptr<LoadedProvider>> ambiguous = with_two.ResolveProvider("");
  CHECK(ambiguous.status().code() == Status::Code::kInvalidArgument);
  CHECK(Contains(ambiguous.status().message(), "'null', 'slow'"));
}

TEST_CASE("coordinator: every operation announces its start, then its end, and a refusal nothing") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 10);
  const fs::path release = dir / "release";
  testing_support::WriteFile(release, "go\n");  // backups finish at once
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(release), log.Fn());
  std::mutex mu;
  std::vector<OperationSnapshot> announced;
  BackupCoordinator coordinator(*store, providers, [&](const OperationSnapshot& op) {
    std::lock_guard<std::mutex> lock(mu);
    announced.push_back(op);
  });

  for (int i = 0; i < 2; ++i) {
    REQUIRE(coordinator.StartBackup("slow", BKP_BACKUP_FULL).ok());
    REQUIRE(WaitFinished(coordinator).state == OperationState::kSucceeded);
  }
  REQUIRE(coordinator.Verify("slow", "").ok());
  REQUIRE(coordinator.Delete("slow", "blocking-1").ok());
  REQUIRE(coordinator.Expire("slow", {.keep_last = 1}).ok());

  // Refused before the slot is claimed: by the provider's resolution, by
  // what the provider cannot do, by a request no provider could serve.
  CHECK(coordinator.Verify("nope", "").status().code() == Status::Code::kNotFound);
  CHECK(coordinator.StartBackup("null", BKP_BACKUP_INCREMENTAL).status().code() ==
        Status::Code::kUnsupported);
  const Status no_remove = coordinator.Delete("null", "x");
  CHECK(no_remove.code() == Status::Code::kUnsupported);
  CHECK(Contains(no_remove.message(), "provider 'null' (plugin null) cannot delete backups"));
  CHECK(coordinator.Expire("null", {.keep_last = 1}).status().code() == Status::Code::kUnsupported);
  const Status no_id = coordinator.Delete("slow", "");
  CHECK(no_id.code() == Status::Code::kInvalidArgument);
  CHECK(Contains(no_id.message(), "needs a backup id"));
  CHECK(coordinator.Expire("slow", {}).status().code() == Status::Code::kInvalidArgument);

  // Each of the five operations was announced twice, start then end, in
  // the order they ran, and no refusal replaced the last one.
  const OperationKind kinds[] = {OperationKind::kBackup, OperationKind::kBackup,
                                 OperationKind::kVerify, OperationKind::kDelete,
                                 OperationKind::kExpire};
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(announced.size() == 10);
  for (size_t i = 0; i < 5; ++i) {
    INFO("operation " << i + 1);
    const OperationSnapshot& start = announced[2 * i];
    const OperationSnapshot& end = announced[2 * i + 1];
    CHECK(start.id == i + 1);
    CHECK(start.kind == kinds[i]);
    CHECK(start.running());
    CHECK(start.provider == "slow");
    CHECK(end.id == i + 1);
    CHECK(end.state == OperationState::kSucceeded);
  }
  CHECK(announced[6].backup_id == "blocking-1");
  const std::optional<OperationSnapshot> last = coordinator.Current();
  REQUIRE(last.has_value());
  CHECK(last->id == 5);
  CHECK(last->kind == OperationKind::kExpire);
}

TEST_CASE("coordinator: a backup started with a queue wait starts once the running one ends") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 20);
  const fs::path release = dir / "release";
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(release), log.Fn());
  BackupCoordinator coordinator(*store, providers);

  Result<OperationSnapshot> first = coordinator.StartBackup("slow", BKP_BACKUP_FULL);
  REQUIRE(first.ok());
  WaitUntil(coordinator, InEventsPhase);
  // Without a wait, or when the wait runs out: refused as before.
  CHECK(coordinator.StartBackup("null", BKP_BACKUP_FULL, std::chrono::milliseconds(20))
            .status()
            .code() == Status::Code::kBusy);

  std::optional<Result<OperationSnapshot>> queued;
  std::thread waiter(
      [&] { queued = coordinator.StartBackup("null", BKP_BACKUP_FULL, std::chrono::seconds(60)); });
  testing_support::WriteFile(release, "go\n");
  waiter.join();
  REQUIRE(queued.has_value());
  REQUIRE_MESSAGE(queued->ok(), queued->status().ToString());
  CHECK((*queued)->id == first->id + 1);  // a refusal claims no id
  CHECK((*queued)->provider == "null");
  CHECK(WaitFinished(coordinator).state == OperationState::kSucceeded);
}

TEST_CASE("coordinator: Shutdown cancels the running backup and turns queued requests away") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 20);
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(dir / "release"), log.Fn());
  BackupCoordinator coordinator(*store, providers);
  Result<OperationSnapshot> first = coordinator.StartBackup("slow", BKP_BACKUP_FULL);
  REQUIRE(first.ok());
  WaitUntil(coordinator, InEventsPhase);

  std::optional<Result<OperationSnapshot>> queued;
  std::thread waiter(
      [&] { queued = coordinator.StartBackup("null", BKP_BACKUP_FULL, std::chrono::seconds(60)); });
  // The waiter may not have begun waiting yet; either way it must not start.
  Result<OperationSnapshot> cancelled = coordinator.Shutdown();
  REQUIRE_MESSAGE(cancelled.ok(), cancelled.status().ToString());
  waiter.join();
  REQUIRE(queued.has_value());
  CHECK(queued->status().code() == Status::Code::kBusy);
  CHECK(Contains(queued->status().message(), "hostd is stopping"));
  CHECK(WaitFinished(coordinator).state == OperationState::kCancelled);
  CHECK(coordinator.Current()->id == first->id);
}

TEST_CASE("coordinator: the recorder sees each end before anyone can see the operation ended") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 20);
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(), log.Fn());
  BackupCoordinator coordinator(*store, providers);
  std::mutex mu;
  std::vector<OperationSnapshot> recorded;
  bool running_when_recorded = false;
  coordinator.set_recorder([&](const OperationSnapshot& op) {
    std::lock_guard<std::mutex> lock(mu);
    recorded.push_back(op);
    // The slot is still held: Current() shows it running.
    running_when_recorded = coordinator.Current()->running();
  });
  REQUIRE(coordinator.StartBackup("null", BKP_BACKUP_FULL).ok());
  const OperationSnapshot done = WaitFinished(coordinator);
  // WaitIdle returned, so the recorder has run.
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(recorded.size() == 1);
  CHECK(running_when_recorded);
  CHECK(recorded[0].state == OperationState::kSucceeded);
  CHECK(recorded[0].backup_id == done.backup_id);
  CHECK(recorded[0].bytes_read == done.bytes_read);
  CHECK(recorded[0].elapsed == done.elapsed);
}

namespace {

// The threads of this process in each (CPU policy, I/O class), read from
// the kernel for every task under /proc/self/task.
struct ThreadClasses {
  int idle_cpu = 0;
  int idle_io = 0;
  int total = 0;
};

ThreadClasses ReadThreadClasses() {
  ThreadClasses out;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    const int tid = std::stoi(task.path().filename().string());
    Result<std::string> policy = ThreadSchedulingPolicy(tid);
    Result<std::string> io = ThreadIoPriorityClass(tid);
    if (!policy.ok() || !io.ok()) continue;  // the thread ended meanwhile
    ++out.total;
    out.idle_cpu += *policy == "SCHED_IDLE" ? 1 : 0;
    out.idle_io += *io == "idle" ? 1 : 0;
  }
  return out;
}

// Runs fx_blocking's backup under `pacing` and returns the classes of the
// process's threads while the provider's call is in progress.
ThreadClasses ClassesDuringBackup(BackupPacing pacing, bool* background_reported) {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "orders", 20);
  const fs::path release = dir / "release";
  LogLines log;
  ProviderRegistry providers = LoadProviders(ProvidersToml(release), log.Fn());
  BackupCoordinator coordinator(*store, providers);
  coordinator.set_pacing(pacing);
  Result<OperationSnapshot> first = coordinator.StartBackup("slow", BKP_BACKUP_FULL);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  WaitUntil(coordinator, InEventsPhase);
  const ThreadClasses during = ReadThreadClasses();
  *background_reported = coordinator.backup_in_background();
  testing_support::WriteFile(release, "go\n");
  CHECK(WaitFinished(coordinator).state == OperationState::kSucceeded);
  CHECK_FALSE(coordinator.backup_in_background());
  return during;
}

}  // namespace

TEST_CASE(
    "coordinator: with pacing auto the backup's thread runs in the CPU and I/O idle classes") {
  // Nothing of the test's own is idle before: the count below is the
  // backup's worker alone.
  const ThreadClasses before = ReadThreadClasses();
  REQUIRE(before.idle_cpu == 0);
  REQUIRE(before.idle_io == 0);
  bool background = false;
  const ThreadClasses during = ClassesDuringBackup(BackupPacing::kAuto, &background);
  CHECK(during.idle_cpu == 1);
  CHECK(during.idle_io == 1);
  CHECK(background);
  // The calling thread (the host's own, like an append's) kept its class.
  CHECK(*ThreadSchedulingPolicy(CurrentThreadId()) == "SCHED_OTHER");
  // The worker has ended: the lowered thread is gone with its backup.
  CHECK(ReadThreadClasses().idle_cpu == 0);
}

TEST_CASE("coordinator: with pacing off the backup's thread keeps the normal classes") {
  bool background = true;
  const ThreadClasses during = ClassesDuringBackup(BackupPacing::kOff, &background);
  CHECK(during.total >= 2);
  CHECK(during.idle_cpu == 0);
  CHECK(during.idle_io == 0);
  CHECK_FALSE(background);
}
