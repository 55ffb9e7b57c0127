// Synthetic event generation (see event_generator.h). Not thread-safe.
#include "api/event_generator.h"

#include <cassert>
#include <chrono>
#include <string_view>

#include <fmt/format.h>

namespace hoststub {
namespace {

// Fixed epoch for the "ts" field so the output never depends on the clock.
constexpr int64_t kBaseTimestampMs = 1'704'067'200'000;  // 2024-01-01T00:00:00Z

// Every event ends with a padding field that makes its size exact.
constexpr std::string_view kPadOpen = ",\"note\":\"";
constexpr std::string_view kPadClose = "\"}";
// Smallest "items" array worth adding: one line item.
constexpr size_t kMinItemsField = 72;

constexpr const char* kEventTypes[] = {
    "OrderPlaced",     "OrderShipped",      "OrderCancelled",  "PaymentAuthorized",
    "PaymentCaptured", "RefundIssued",      "CustomerCreated", "CustomerAddressChanged",
    "CartItemAdded",   "InventoryAdjusted", "InvoiceIssued",   "SubscriptionRenewed",
};
constexpr const char* kAggregateKinds[] = {"order", "customer", "cart", "invoice", "subscription"};
constexpr const char* kFirstNames[] = {"Ada",    "Grace", "Alan", "Barbara",  "Edsger", "Frances",
                                       "Donald", "Radia", "Ken",  "Margaret", "Linus",  "Sophie"};
constexpr const char* kLastNames[] = {"Lovelace", "Hopper",   "Turing",   "Liskov",
                                      "Dijkstra", "Allen",    "Knuth",    "Perlman",
                                      "Thompson", "Hamilton", "Torvalds", "Wilson"};
constexpr const char* kTiers[] = {"free", "basic", "silver", "gold", "platinum"};
constexpr const char* kCurrencies[] = {"EUR", "USD", "GBP", "CHF", "JPY"};
constexpr const char* kCarriers[] = {"DHL", "UPS", "FedEx", "La Poste", "Royal Mail"};
constexpr const char* kStreets[] = {"Elm Street",   "Rue de la Paix", "Baker Street",
                                    "Hauptstrasse", "Via Roma",       "Main Avenue"};
constexpr const char* kCities[] = {"Lyon", "London", "Berlin", "Milan", "Zurich", "Osaka"};
constexpr const char* kCountries[] = {"FR", "GB", "DE", "IT", "CH", "JP"};
constexpr const char* kTags[] = {"mobile",  "web", "promo", "gift",
                                 "express", "b2b", "retry", "vip"};
constexpr const char* kApps[] = {"web", "ios", "android", "pos", "backoffice"};
constexpr const char* kWords[] = {
    "customer", "requested", "delivery",  "before",   "noon",  "please",   "leave",
    "parcel",   "with",      "neighbour", "invoice",  "sent",  "to",       "accounting",
    "discount", "applied",   "at",        "checkout", "stock", "reserved", "for",
    "order",    "confirmed", "by",        "phone",    "and",   "email",    "again"};

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::string FormatTimestamp(int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds(ms)};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> t{tp - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     t.hours().count(), t.minutes().count(), t.seconds().count(),
                     t.subseconds().count());
}

// Cents as a JSON number with two decimals, without floating point.
std::string Money(uint64_t cents) { return fmt::format("{}.{:02}", cents / 100, cents % 100); }

}  // namespace

Status EventGenerator::Validate(const EventGeneratorOptions& options) {
  if (options.min_size < kMinEventSize) {
    return Status::InvalidArgument(
        fmt::format("event min size {} is below the smallest generated event ({} bytes); raise it",
                    options.min_size, kMinEventSize));
  }
  if (options.min_size > options.max_size) {
    return Status::InvalidArgument(
        fmt::format("event min size {} is above max size {}", options.min_size, options.max_size));
  }
  return Status::OK();
}

EventGenerator::EventGenerator(const EventGeneratorOptions& options) : options_(options) {
  assert(Validate(options).ok());
  uint64_t x = options.seed;
  for (uint64_t& s : state_) s = SplitMix64(x);
}

// xoshiro256**: fast, and its output is fully specified, unlike std::mt19937
// fed through a std:: distribution.
uint64_t EventGenerator::NextRandom() {
  const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = Rotl(state_[3], 45);
  return result;
}

uint64_t EventGenerator::Below(uint64_t bound) {
  // Plain modulo: for the bounds used here (< 2^21) its bias is below 2^-43,
  // irrelevant for test data.
  return NextRandom() % bound;
}

std::string EventGenerator::Next() {
  // Every random draw is its own statement: the evaluation order of function
  // arguments is unspecified, and the output must not depend on the compiler.
  const size_t target =
      options_.min_size + static_cast<size_t>(Below(options_.max_size - options_.min_size + 1));
  const uint64_t seq = seq_++;

  // Candidate fields, most important first; each is kept only if it still
  // leaves room for the padding field, so small targets get fewer fields.
  std::vector<std::string> fields;
  const char* type = Pick(kEventTypes);
  fields.push_back(fmt::format(",\"type\":\"{}\"", type));

  const uint64_t id_hi = NextRandom();
  const uint64_t id_lo = NextRandom();
  fields.push_back(fmt::format(",\"id\":\"{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}\"", id_hi >> 32,
                               (id_hi >> 16) & 0xffffu, id_hi & 0xfffu, 0x8000u | (id_lo >> 50),
                               id_lo & 0xffffffffffffull));

  const int64_t jitter_ms = static_cast<int64_t>(Below(250));
  fields.push_back(
      fmt::format(",\"ts\":\"{}\"",
                  FormatTimestamp(kBaseTimestampMs + static_cast<int64_t>(seq) * 250 + jitter_ms)));

  const char* kind = Pick(kAggregateKinds);
  const uint64_t aggregate_id = Below(1'000'000);
  const uint64_t version = 1 + Below(200);
  fields.push_back(
      fmt::format(",\"aggregate\":{{\"kind\":\"{}\",\"id\":\"agg-{:06}\",\"version\":{}}}", kind,
                  aggregate_id, version));

  const uint64_t user_id = Below(100'000);
  const char* first = Pick(kFirstNames);
  const char* last = Pick(kLastNames);
  const char* tier = Pick(kTiers);
  fields.push_back(fmt::format(
      ",\"actor\":{{\"id\":\"usr-{:05}\",\"name\":\"{} {}\",\"email\":\"{}.{}@example.com\","
      "\"tier\":\"{}\"}}",
      user_id, first, last, first, last, tier));

  if (Below(4) != 0) {
    const uint64_t cents = Below(500'000);
    const char* currency = Pick(kCurrencies);
    fields.push_back(
        fmt::format(",\"amount\":{{\"value\":{},\"currency\":\"{}\"}}", Money(cents), currency));
  }

  if (Below(3) == 0) {
    const char* carrier = Pick(kCarriers);
    const uint64_t number = 1 + Below(120);
    const char* street = Pick(kStreets);
    const uint64_t place = Below(std::size(kCities));
    const uint64_t postcode = Below(100'000);
    const bool express = Below(2) == 0;
    fields.push_back(fmt::format(
        ",\"shipping\":{{\"carrier\":\"{}\",\"address\":{{\"street\":\"{} {}\",\"city\":\"{}\","
        "\"country\":\"{}\",\"postcode\":\"{:05}\"}},\"express\":{}}}",
        carrier, number, street, kCities[place], kCountries[place], postcode, express));
  }

  if (Below(2) == 0) {
    const char* tag1 = Pick(kTags);
    const char* tag2 = Pick(kTags);
    fields.push_back(fmt::format(",\"tags\":[\"{}\",\"{}\"]", tag1, tag2));
  }

  const char* app = Pick(kApps);
  const uint64_t major = 1 + Below(5);
  const uint64_t minor = Below(20);
  const uint64_t patch = Below(10);
  const uint64_t ip = NextRandom();
  fields.push_back(fmt::format(
      ",\"source\":{{\"app\":\"{}\",\"version\":\"{}.{}.{}\",\"ip\":\"10.{}.{}.{}\"}}", app, major,
      minor, patch, (ip >> 16) & 0xff, (ip >> 8) & 0xff, 1 + (ip & 0xff) % 254));

  std::string out = fmt::format("{{\"seq\":{}", seq);
  const size_t pad_overhead = kPadOpen.size() + kPadClose.size();
  for (const std::string& field : fields) {
    if (out.size() + field.size() + pad_overhead <= target) out += field;
  }
  // kMinEventSize leaves room for the longest "seq" plus the padding field.
  assert(out.size() + pad_overhead <= target);

  // Big events get their size from line items, as a large order would, rather
  // than from padding; a short free-text note stays for variety.
  const size_t note_size = 16 + static_cast<size_t>(Below(48));
  if (out.size() + pad_overhead + note_size + kMinItemsField <= target) {
    const size_t room = target - out.size() - pad_overhead - note_size;
    std::string items = ",\"items\":[";
    for (;;) {
      const uint64_t sku = Below(100'000);
      const uint64_t qty = 1 + Below(9);
      const uint64_t price = 99 + Below(20'000);
      std::string item = fmt::format("{}{{\"sku\":\"SKU-{:05}\",\"qty\":{},\"unit_price\":{}}}",
                                     items.size() > 10 ? "," : "", sku, qty, Money(price));
      if (items.size() + item.size() + 1 > room) break;
      items += item;
    }
    if (items.size() > 10) out += items + "]";
  }
  const size_t pad = target - out.size() - pad_overhead;
  out += kPadOpen;
  const size_t pad_end = out.size() + pad;
  while (out.size() < pad_end) {
    out += Pick(kWords);
    out += ' ';
  }
  out.resize(pad_end);
  out += kPadClose;
  return out;
}

std::vector<std::string> EventGenerator::NextBatch(size_t count) {
  std::vector<std::string> batch;
  batch.reserve(count);
  for (size_t i = 0; i < count; ++i) batch.push_back(Next());
  return batch;
}

}  // namespace hoststub
