// The C edge every provider built on the repository engine shares: one
// bkp_instance type, and the backup, restore, list, verify, remove and
// expire callbacks of the provider table, each turning an ABI call into an
// engine call inside bkp::guard so no exception reaches the host. A
// provider folder only describes itself (ProviderIdentity), reads its own
// settings into a StorageDriver (DriverFactory) and exports the entry point.
//
// Part of the engine's public surface, installed with the SDK (component
// bkp_repo_engine, docs/writing-a-provider.md): with storage_driver.h and
// engine_version.h it is all a provider on the engine includes.
//
// Errors: every callback returns a bkp_status with the message in the
// caller's buffer, as bkp_plugin.h requires.
// Thread-safety: the host calls one instance's operations one at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "bkp/bkp_plugin.hpp"
#include "repo/engine_version.h"
#include "repo/storage_driver.h"

// bkp_instance stays opaque here (bkp_plugin.h declares it): its engine
// state is defined in repo/provider_instance.h, which is not installed.

namespace repo {

// Settings the engine itself reads, for a provider's bkp_setting_spec list.
inline constexpr bkp_setting_spec kWorkersSetting = {
    "workers", BKP_SETTING_INT, 0, "compression threads, 1-16 (default: the number of cores)"};
inline constexpr bkp_setting_spec kRateLimitSetting = {
    "rate_limit", BKP_SETTING_INT, 0,
    "read cap in bytes per second so a backup does not starve the host (default 0: none)"};
// Compression of new objects (codec.h).
inline constexpr bkp_setting_spec kCompressionSetting = {
    "compression", BKP_SETTING_STRING, 0,
    "codec of newly stored objects: lz4 (default; fastest) or zstd (smaller; a repository may "
    "hold both)"};
inline constexpr bkp_setting_spec kCompressionLevelSetting = {
    "compression_level", BKP_SETTING_INT, 0,
    "zstd level, 1-19 (default 1); only with compression = \"zstd\""};
inline constexpr bkp_setting_spec kFullCheckEverySetting = {
    "full_check_every", BKP_SETTING_INT, 0,
    "every Nth backup reads the last 4 KiB of every closed segment it reuses; the others take "
    "the host's word for a closed segment listed with the same name, size and range "
    "(default 1: every backup reads them; e.g. 10 trusts the host 9 backups in a row)"};
// Encryption (encrypted_driver.h): off unless an identity is given.
inline constexpr bkp_setting_spec kEncryptionIdentitySetting = {
    "encryption_identity", BKP_SETTING_STRING, 0,
    "path of an age identity file (bkp-keygen -o FILE): the repository is encrypted; default: "
    "not encrypted"};
inline constexpr bkp_setting_spec kEncryptionRecipientsSetting = {
    "encryption_recipients", BKP_SETTING_STRING, 0,
    "extra age1... recipients every file is also encrypted to (e.g. an offline recovery key), "
    "separated by spaces or commas"};

struct ProviderIdentity {
  const char* name;      // as in the provider table, e.g. "local_disk"
  const char* version;   // the provider's own version
  bool incremental;      // whether it takes incremental backups
  bool archive = false;  // whether it archives segments continuously
};

// The ABI version in force between the host (its services table says the
// newest it speaks) and this plugin (BKP_ABI_VERSION): the lower of the
// two, as bkp_plugin.h defines it. The entry point has already refused a
// host of another major version.
uint32_t NegotiatedAbiVersion(const bkp_host_services& services);

// Builds the provider's storage from its settings; throws bkp::Error
// (BKP_E_INVALID_ARGUMENT naming the setting) on a bad one. The engine
// owns the driver it returns until the instance is closed.
using DriverFactory = std::shared_ptr<StorageDriver> (*)(const bkp::Settings& settings);
// The same for a driver that logs through the host (a credential source's
// warnings): `host` is the opening instance's, valid from open until close,
// which the driver does not outlive.
using LoggingDriverFactory = std::shared_ptr<StorageDriver> (*)(const bkp::Settings& settings,
                                                                const bkp::Host& host);

// The provider table's open: reads the engine settings, builds the driver
// and opens (or creates) the repository on it. Every failure, the
// factory's included, is returned as its status with the message in `err`.
bkp_status OpenInstance(const ProviderIdentity& identity, DriverFactory make_driver,
                        const bkp_open_args* args, bkp_instance** out, char* err,
                        size_t err_len) noexcept;
bkp_status OpenInstance(const ProviderIdentity& identity, LoggingDriverFactory make_driver,
                        const bkp_open_args* args, bkp_instance** out, char* err,
                        size_t err_len) noexcept;

void CloseInstance(bkp_instance* instance) noexcept;
bkp_status BackupInstance(bkp_instance* instance, const bkp_backup_args* args,
                          bkp_backup_result* result, char* err, size_t err_len) noexcept;
bkp_status RestoreInstance(bkp_instance* instance, const bkp_restore_args* args, char* err,
                           size_t err_len) noexcept;
bkp_status ListInstance(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                        size_t err_len) noexcept;
bkp_status VerifyInstance(bkp_instance* instance, const char* backup_id, bkp_operation* op,
                          bkp_verify_problem_fn fn, void* user, char* err, size_t err_len) noexcept;
bkp_status RemoveInstance(bkp_instance* instance, const char* backup_id, char* err,
                          size_t err_len) noexcept;
bkp_status ExpireInstance(bkp_instance* instance, const bkp_retention* retention,
                          bkp_backup_info_fn fn, void* user, char* err, size_t err_len) noexcept;

// The archive's callbacks (BKP_CAP_ARCHIVE): archive calls may run while
// another operation runs on the instance (see bkp_plugin.h, THREADING).
bkp_status ArchiveInstance(bkp_instance* instance, const bkp_archive_args* args, char* err,
                           size_t err_len) noexcept;
bkp_status ArchiveStatusInstance(bkp_instance* instance, bkp_archive_position_fn fn, void* user,
                                 char* err, size_t err_len) noexcept;

// The repository's locks (BKP_CAP_LOCKS): each reported, stale ones removed
// with BKP_LOCKS_REMOVE_STALE (repo_lock.h).
bkp_status LocksInstance(bkp_instance* instance, uint32_t flags, bkp_lock_info_fn fn, void* user,
                         char* err, size_t err_len) noexcept;

// Every capability the shared callbacks implement but the archive's and
// BKP_CAP_INCREMENTAL, which a provider adds when it offers them.
inline constexpr uint64_t kEngineCapabilities = BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST |
                                                BKP_CAP_VERIFY | BKP_CAP_REMOVE | BKP_CAP_EXPIRE |
                                                BKP_CAP_POINT_IN_TIME | BKP_CAP_LOCKS;

// The provider table of a provider built on the engine: its own identity,
// one-line description, settings and open; the engine's callbacks and
// capabilities for the rest (incremental and archive as `identity` says).
template <size_t N>
constexpr bkp_provider ProviderTable(const ProviderIdentity& identity, const char* description,
                                     const bkp_setting_spec (&settings)[N],
                                     decltype(bkp_provider::open) open) {
  return {sizeof(bkp_provider),
          BKP_ABI_VERSION,
          identity.name,
          identity.version,
          description,
          kEngineCapabilities | (identity.incremental ? BKP_CAP_INCREMENTAL : 0) |
              (identity.archive ? BKP_CAP_ARCHIVE : 0),
          settings,
          static_cast<uint32_t>(N),
          sizeof(bkp_setting_spec),
          open,
          CloseInstance,
          BackupInstance,
          RestoreInstance,
          ListInstance,
          VerifyInstance,
          RemoveInstance,
          ExpireInstance,
          identity.archive ? ArchiveInstance : nullptr,
          identity.archive ? ArchiveStatusInstance : nullptr,
          LocksInstance};
}

}  // namespace repo
