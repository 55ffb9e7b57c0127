// Settings and the lifetime of instances: open with the run's settings,
// refuse each required setting missing, ask only for declared settings, and
// open/close any number of instances in any order.
#include <algorithm>
#include <map>

#include "kit.h"

namespace bkp::conformance::detail {

namespace {

bkp_status Noop(void*, const bkp_backup_info*) { return BKP_OK; }

}  // namespace

void CheckSettings(Kit& kit) {
  {
    Problems p;
    std::string why;
    kit.host.setting_violations.clear();
    bkp_instance* instance = kit.Open(&why);
    if (instance == nullptr) p.push_back("open refused the settings given: " + why);
    kit.table.close(instance);
    for (const std::string& v : kit.host.setting_violations) p.push_back("open " + v);
    kit.Conclude("settings: open takes the settings given and reads only declared ones", p);
  }
  for (const bkp_setting_spec& spec : kit.specs) {
    if ((spec.flags & BKP_SETTING_REQUIRED) == 0) continue;
    // A host that let a required setting through (it should not) is a bug
    // the provider must still survive: refuse, naming the setting.
    Problems p;
    const std::string key = spec.key;
    auto strings = kit.host.string_settings;
    auto ints = kit.host.int_settings;
    auto bools = kit.host.bool_settings;
    kit.host.string_settings.erase(key);
    kit.host.int_settings.erase(key);
    kit.host.bool_settings.erase(key);
    std::string why;
    bkp_instance* instance = kit.Open(&why);
    if (instance != nullptr) {
      p.push_back("open succeeded without the required setting '" + key + "'");
      kit.table.close(instance);
    } else if (why.find("BKP_OK") != std::string::npos) {
      p.push_back(why);
    } else if (why.find(key) == std::string::npos) {
      p.push_back("open refused, but its message does not name '" + key + "': " + why);
    }
    kit.host.string_settings = strings;
    kit.host.int_settings = ints;
    kit.host.bool_settings = bools;
    kit.Conclude("settings: open refuses a missing required setting '" + key + "', naming it", p);
  }
}

void CheckOpenClose(Kit& kit) {
  Problems p;
  kit.table.close(nullptr);  // a no-op by the ABI; a crash ends the run here
  std::string why;
  bkp_instance* a = kit.Open(&why);
  if (a == nullptr) {
    p.push_back("first open failed: " + why);
  } else {
    bkp_instance* b = kit.Open(&why);
    if (b == nullptr) {
      p.push_back("a second open while the first instance is open failed: " + why);
    } else {
      if (a == b) p.push_back("two opens returned the same instance");
      if (kit.Has(BKP_CAP_LIST)) {
        char err[512] = "";
        const bkp_status st = kit.table.list(a, &Noop, nullptr, err, sizeof err);
        if (st != BKP_OK) {
          p.push_back("list on one of two open instances failed: " + StatusText(st) + ": " + err);
        }
      }
      kit.table.close(b);
    }
    kit.table.close(a);  // closed in the other order than opened: any order goes
  }
  for (int round = 0; round < 3; ++round) {
    bkp_instance* i = kit.Open(&why);
    if (i == nullptr) {
      p.push_back("open #" + std::to_string(round + 1) + " after close failed: " + why);
      break;
    }
    kit.table.close(i);
  }
  kit.Conclude("open/close: instances open side by side, close in any order, reopen", p);
}

}  // namespace bkp::conformance::detail
