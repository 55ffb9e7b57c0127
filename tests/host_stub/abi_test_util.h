// Drives the host's backup source and restore sink through the services
// table, as a plugin would: the C entry points, not the C++ objects.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "bkp/bkp_plugin.h"
#include "plugin_host/host_services.h"

namespace abi_test {

struct CopiedItem {
  uint32_t role = 0;
  std::string context;  // empty for the control DB
  std::string name;
  uint64_t base = 0;
  uint64_t next = 0;
  uint64_t id = 0;
  uint64_t size = 0;
  bool closed = false;
  std::string bytes;
};

inline const bkp_host_services& Services() { return *hoststub::HostServices(); }

// Lists one role; returns the status and fills `out`.
inline bkp_status ListRole(bkp_source* source, uint32_t role, std::vector<CopiedItem>* out,
                           std::string* error = nullptr) {
  char err[512] = "";
  auto collect = [](void* user, const bkp_item* item) -> bkp_status {
    auto* items = static_cast<std::vector<CopiedItem>*>(user);
    CopiedItem c;
    c.role = item->role;
    c.context = item->context ? item->context : "";
    c.name = item->name;
    c.base = item->base;
    c.next = item->next;
    c.id = item->id;
    c.size = item->size;
    c.closed = (item->flags & BKP_ITEM_CLOSED) != 0;
    items->push_back(std::move(c));
    return BKP_OK;
  };
  bkp_status rc = Services().source_list(source, role, collect, out, err, sizeof err);
  if (error != nullptr) *error = err;
  return rc;
}

// Reads an item whole, in chunks of `chunk` bytes.
inline void ReadItem(bkp_source* source, CopiedItem* item, size_t chunk = 4096) {
  std::string buf(chunk, '\0');
  uint64_t offset = 0;
  while (true) {
    size_t got = 0;
    char err[512] = "";
    bkp_status rc = Services().source_read(source, item->id, offset, buf.data(), buf.size(), &got,
                                           err, sizeof err);
    REQUIRE_MESSAGE(rc == BKP_OK, err);
    if (got == 0) break;
    item->bytes.append(buf.data(), got);
    offset += got;
  }
  CHECK(item->bytes.size() == item->size);
}

// A whole backup, in order, held in memory.
inline std::vector<CopiedItem> CopyAll(bkp_source* source) {
  std::vector<CopiedItem> items;
  for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
    std::string error;
    REQUIRE_MESSAGE(ListRole(source, role, &items, &error) == BKP_OK, error);
  }
  for (auto& item : items) ReadItem(source, &item);
  return items;
}

inline bkp_item ItemOf(const CopiedItem& c) {
  bkp_item item{};
  item.struct_size = sizeof item;
  item.role = c.role;
  item.context = c.role == BKP_ROLE_CONTROL_DB ? nullptr : c.context.c_str();
  item.name = c.name.c_str();
  item.size = c.size;
  item.base = c.base;
  return item;
}

// Feeds one item to the sink; returns the first failing status.
inline bkp_status Feed(bkp_sink* sink, const CopiedItem& c, std::string* error) {
  char err[512] = "";
  bkp_item item = ItemOf(c);
  bkp_status rc = Services().sink_begin(sink, &item, err, sizeof err);
  if (rc == BKP_OK)
    rc = Services().sink_write(sink, c.bytes.data(), c.bytes.size(), err, sizeof err);
  if (rc == BKP_OK) rc = Services().sink_end(sink, err, sizeof err);
  *error = err;
  return rc;
}

}  // namespace abi_test
