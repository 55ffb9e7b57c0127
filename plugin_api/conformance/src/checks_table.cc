// Negotiation and the provider table: what the host checks when it loads a
// library, plus what it can only trust (capability bits promise callbacks).
#include <cstring>
#include <set>

#include "bkp/bkp_plugin_c.h"
#include "kit.h"

namespace bkp::conformance::detail {

namespace {

// What the host reads of the provider table: its fields up to struct_size.
bkp_provider ReadTable(const bkp_provider* given) {
  bkp_provider table;
  bkp_copy_versioned(&table, sizeof table, given, 0);
  return table;
}

}  // namespace

void CheckEntry(Kit& kit) {
  const bkp_plugin_entry_fn entry = kit.library.entry_fn();
  {
    Problems p;
    std::string why;
    kit.provider = kit.library.Entry(BKP_ABI_VERSION, &why);
    if (kit.provider == nullptr) {
      p.push_back("refused a host speaking its own ABI version: " +
                  (why.empty() ? std::string("(no reason)") : why));
    }
    // Same major, any minor: an older host's and a newer host's minor.
    if (kit.library.Entry(BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR, 0)) == nullptr) {
      p.push_back("refused a host speaking ABI 1.0: the same major must be served");
    }
    if (kit.library.Entry(BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR, 0x7fff)) == nullptr) {
      p.push_back("refused a host of a newer minor: the same major must be served");
    }
    kit.Conclude("entry: serves every host of its ABI major", p);
  }
  {
    Problems p;
    std::string why;
    const uint32_t other = BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR + 1, 0);
    if (kit.library.Entry(other, &why) != nullptr) {
      p.push_back("accepted a host of ABI major " + std::to_string(BKP_ABI_VERSION_MAJOR + 1));
    } else if (why.empty()) {
      p.push_back("refused another major without a reason in args->error");
    }
    // No buffer, and a buffer of length 0: nothing written, no crash.
    bkp_entry_args args;
    BKP_INIT(&args);
    args.host_abi_version = other;
    if (entry(&args) != nullptr) p.push_back("accepted another major when given no error buffer");
    char canary[16];
    std::memset(canary, 'x', sizeof canary);
    args.error = canary;
    args.error_len = 0;
    (void)entry(&args);
    if (canary[0] != 'x') p.push_back("wrote into args->error although error_len is 0");
    kit.Conclude("entry: refuses another major, with a reason, by the err rules", p);
  }
}

void CheckTable(Kit& kit) {
  const bkp_provider* given = kit.provider;
  kit.table = ReadTable(given);
  const bkp_provider& t = kit.table;
  {
    Problems p;
    if (given->struct_size < BKP_V1_0_SIZE_PROVIDER) {
      p.push_back("struct_size " + std::to_string(given->struct_size) +
                  " is below ABI 1.0's table (" + std::to_string(BKP_V1_0_SIZE_PROVIDER) + ")");
    }
    if (BKP_VERSION_MAJOR(t.abi_version) != BKP_ABI_VERSION_MAJOR) {
      p.push_back("abi_version " + std::to_string(BKP_VERSION_MAJOR(t.abi_version)) + "." +
                  std::to_string(BKP_VERSION_MINOR(t.abi_version)) + " is not of major " +
                  std::to_string(BKP_ABI_VERSION_MAJOR));
    }
    if (t.name == nullptr || t.name[0] == '\0') p.push_back("name is NULL or empty");
    if (t.version == nullptr) p.push_back("version is NULL");
    if (t.description == nullptr) p.push_back("description is NULL");
    if (t.open == nullptr) p.push_back("open is NULL (required)");
    if (t.close == nullptr) p.push_back("close is NULL (required)");
    kit.Conclude("table: identity, version and the required open/close", p);
  }
  {
    Problems p;
    struct Cap {
      uint64_t bit;
      const char* name;
      std::vector<std::pair<const char*, bool>> callbacks;
    };
    const std::vector<Cap> caps = {
        {BKP_CAP_BACKUP, "BKP_CAP_BACKUP", {{"backup", t.backup != nullptr}}},
        {BKP_CAP_RESTORE, "BKP_CAP_RESTORE", {{"restore", t.restore != nullptr}}},
        {BKP_CAP_LIST, "BKP_CAP_LIST", {{"list", t.list != nullptr}}},
        {BKP_CAP_VERIFY, "BKP_CAP_VERIFY", {{"verify", t.verify != nullptr}}},
        {BKP_CAP_REMOVE, "BKP_CAP_REMOVE", {{"remove", t.remove != nullptr}}},
        {BKP_CAP_EXPIRE, "BKP_CAP_EXPIRE", {{"expire", t.expire != nullptr}}},
        {BKP_CAP_INCREMENTAL, "BKP_CAP_INCREMENTAL", {}},
        {BKP_CAP_ARCHIVE,
         "BKP_CAP_ARCHIVE",
         {{"archive", t.archive != nullptr}, {"archive_status", t.archive_status != nullptr}}},
        {BKP_CAP_POINT_IN_TIME, "BKP_CAP_POINT_IN_TIME", {}},
        {BKP_CAP_LOCKS, "BKP_CAP_LOCKS", {{"locks", t.locks != nullptr}}},
    };
    uint64_t known = 0;
    uint64_t broken = 0;
    for (const Cap& cap : caps) {
      known |= cap.bit;
      for (const auto& [callback, present] : cap.callbacks) {
        if (kit.Has(cap.bit) && !present) {
          p.push_back(std::string(cap.name) + " is announced but " + callback +
                      " is NULL (or beyond the table's struct_size)");
          broken |= cap.bit;
        }
        if (!kit.Has(cap.bit) && present) {
          kit.Note(std::string(callback) + " is set without " + cap.name +
                   ": the host never calls it");
        }
      }
    }
    if (kit.Has(BKP_CAP_INCREMENTAL) && !kit.Has(BKP_CAP_BACKUP)) {
      p.push_back("BKP_CAP_INCREMENTAL needs BKP_CAP_BACKUP");
    }
    if (kit.Has(BKP_CAP_POINT_IN_TIME) && !kit.Has(BKP_CAP_RESTORE)) {
      p.push_back("BKP_CAP_POINT_IN_TIME needs BKP_CAP_RESTORE");
    }
    if ((t.capabilities & ~known) != 0) {
      p.push_back("unknown capability bits 0x" + [&] {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%llx",
                      static_cast<unsigned long long>(t.capabilities & ~known));
        return std::string(buf);
      }());
    }
    // The host refuses such a table; the kit goes on without the broken
    // capabilities, so the other checks still run and nothing calls NULL.
    kit.table.capabilities &= ~broken;
    kit.Conclude("table: capability bits match callbacks", p);
  }
  {
    Problems p;
    if (t.settings_count > 0 && t.settings == nullptr) {
      p.push_back("settings_count is " + std::to_string(t.settings_count) +
                  " but settings is NULL");
    } else if (t.settings_count > 0 && t.setting_spec_size < BKP_V1_0_SIZE_SETTING_SPEC) {
      p.push_back("setting_spec_size " + std::to_string(t.setting_spec_size) +
                  " is below ABI 1.0's bkp_setting_spec");
    } else {
      std::set<std::string> keys;
      const auto* base = reinterpret_cast<const unsigned char*>(t.settings);
      for (uint32_t i = 0; i < t.settings_count; ++i) {
        bkp_setting_spec spec{};
        std::memcpy(&spec, base + static_cast<size_t>(i) * t.setting_spec_size,
                    t.setting_spec_size < sizeof spec ? t.setting_spec_size : sizeof spec);
        const std::string at = "setting #" + std::to_string(i);
        if (spec.key == nullptr || spec.key[0] == '\0') {
          p.push_back(at + " has no key");
          continue;
        }
        if (!keys.insert(spec.key).second) p.push_back(at + ": key '" + spec.key + "' repeats");
        if (spec.type < BKP_SETTING_STRING || spec.type > BKP_SETTING_BOOL) {
          p.push_back(at + " ('" + spec.key + "'): unknown type " + std::to_string(spec.type));
        }
        if ((spec.flags & ~(BKP_SETTING_REQUIRED | BKP_SETTING_SECRET)) != 0) {
          p.push_back(at + " ('" + spec.key + "'): unknown flag bits");
        }
        if (spec.description == nullptr) p.push_back(at + " ('" + spec.key + "'): no description");
        kit.specs.push_back(spec);
      }
    }
    kit.Conclude("table: settings are well formed", p);
  }
}

}  // namespace bkp::conformance::detail
