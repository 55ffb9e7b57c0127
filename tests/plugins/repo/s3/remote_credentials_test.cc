// Where the remote provider's S3 credentials come from: the shared
// credentials file and its profiles, the order of the sources, instance
// metadata (IMDSv2, token first) and temporary credentials refreshed
// before they expire. The servers are fake_aws.py (a fake IMDS and a proxy
// that checks every request's signature, key, token and expiry, written
// apart from the C++) in front of a real s3rver; the provider is the real
// plugin loaded through the C ABI. Everything listens on 127.0.0.1: no test
// here may reach 169.254.169.254, so each sets AWS_EC2_METADATA_DISABLED
// or an endpoint of its own.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plugin_host/abi_status.h"
#include "plugins/fake_aws.h"
#include "plugins/remote_test_util.h"
#include "repo/s3/s3_credential_chain.h"
#include "repo/s3/s3_credentials.h"
#include "repo/s3/s3_imds.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenFailure;
using plugins_test::OpenStore;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::PrefixOf;
using repo::s3::CredentialOptions;
using repo::s3::MakeCredentialSource;
using repo::s3::S3Credentials;
using s3_test::FakeAws;
using s3_test::S3Server;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;
using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

namespace {

const char* const kCredentialsFile = R"(# profiles for the tests
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-of-default

[backup]
aws_access_key_id=AKIDBACKUP
aws_secret_access_key=secret-of-backup
aws_session_token = token-of-backup
s3 =
  max_concurrent_requests = 20

; another
[other]
AWS_Access_Key_Id = AKIDOTHER
aws_secret_access_key = secret-of-other
)";

// Every secret above, none of which may appear in a message.
const std::vector<std::string> kFileSecrets = {"secret-of-default", "secret-of-backup",
                                               "token-of-backup", "secret-of-other"};

// Options whose environment is `env` only.
CredentialOptions WithEnv(const std::map<std::string, std::string>& env) {
  CredentialOptions o;
  o.getenv = [env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return o;
}

// The message of MakeCredentialSource's failure; FAILs if it succeeds.
std::string Refusal(const CredentialOptions& o, bkp_status expected = BKP_E_AUTH) {
  try {
    MakeCredentialSource(o);
  } catch (const bkp::Error& e) {
    CHECK_MESSAGE(e.status() == expected, e.what());
    return e.what();
  }
  FAIL("no error");
  return "";
}

void CheckNoSecret(const std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets)
    CHECK_MESSAGE(!Contains(text, s), "secret '" << s << "' in: " << text);
}

// Sets (or, with nullopt, unsets) process environment variables for the
// provider loaded in this process; restores them on destruction.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<std::string, std::optional<std::string>>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      Set(name, value);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) Set(it->first, it->second);
  }

 private:
  static void Set(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// RemoteSettings without the static keys it writes, plus `extra` lines.
std::string SettingsWithoutKeys(const std::string& endpoint, const std::string& prefix,
                                const std::string& extra) {
  std::string settings = s3_test::RemoteSettings(endpoint, prefix);
  for (const std::string key : {"access_key_id", "secret_access_key"}) {
    const size_t at = settings.find(key + " = ");
    settings.erase(at, settings.find('\n', at) - at + 1);
  }
  return settings + extra;
}

// The S3 requests of a fake's log.
std::vector<nlohmann::json> S3Requests(const nlohmann::json& log) {
  std::vector<nlohmann::json> out;
  for (const auto& e : log) {
    if (e.at("server") == "s3") out.push_back(e);
  }
  return out;
}

// Every S3 request the proxy saw was signed well with an unexpired key;
// returns the keys, in order of first use.
std::vector<std::string> CheckAllSignedWell(const nlohmann::json& log) {
  std::vector<std::string> keys;
  for (const auto& e : S3Requests(log)) {
    CAPTURE(e.dump());
    CHECK(e.at("ok").get<bool>());
    const std::string key = e.at("key").is_string() ? e.at("key").get<std::string>() : "";
    if (e.at("expires").is_number()) {
      CHECK(e.at("received").get<double>() < e.at("expires").get<double>());
    }
    if (keys.empty() || std::find(keys.begin(), keys.end(), key) == keys.end()) {
      keys.push_back(key);
    }
  }
  return keys;
}

// The remote provider loaded by the host's registry, its log lines kept.
class LoggedRemote {
 public:
  explicit LoggedRemote(const std::string& settings) {
    const std::string toml = "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
                             "'\n[[providers]]\nname = 'disk'\nplugin = 'remote'\n"
                             "[providers.settings]\n" +
                             settings;
    auto config = hoststub::ParseHostConfig(toml, "credentials_test.toml");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    auto loaded = hoststub::ProviderRegistry::Load(
        *config, [this](std::string_view, int32_t level, std::string_view line) {
          std::lock_guard lock(mu_);
          lines_.push_back(hoststub::BkpLogLevelName(level) + " " + std::string(line));
        });
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    registry_ = std::move(*loaded);
  }
  hoststub::ProviderRef Ref() const { return plugins_test::RefOf(*registry_.Find("disk")); }
  std::vector<std::string> Lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
  hoststub::ProviderRegistry registry_;
};

}  // namespace

TEST_CASE("s3 credentials: the profile setting, else AWS_PROFILE, else 'default' picks the keys") {
  TempDir dir;
  const fs::path file = dir / "credentials";
  WriteFile(file, kCredentialsFile);

  SUBCASE("the file AWS_SHARED_CREDENTIALS_FILE names, profile 'default'") {
    auto source = MakeCredentialSource(WithEnv({{"AWS_SHARED_CREDENTIALS_FILE", file.string()}}));
    const S3Credentials c = source->Current();
    CHECK(c.access_key_id == "AKIDDEFAULT");
    CHECK(c.secret_access_key == "secret-of-default");
    CHECK(c.session_token.empty());
    CHECK_FALSE(c.expiration);
    CHECK(source->Describe() ==
          "access key 'AKIDDEFAULT' of profile 'default' in " + file.string());
  }
  SUBCASE("AWS_PROFILE, with its session token; sub-settings are skipped") {
    auto source = MakeCredentialSource(
        WithEnv({{"AWS_SHARED_CREDENTIALS_FILE", file.string()}, {"AWS_PROFILE", "backup"}}));
    const S3Credentials c = source->Current();
    CHECK(c.access_key_id == "AKIDBACKUP");
    CHECK(c.secret_access_key == "secret-of-backup");
    CHECK(c.session_token == "token-of-backup");
    CHECK(Contains(source->Describe(), "profile 'backup'"));
    CheckNoSecret(source->Describe(), kFileSecrets);
    CHECK(source->Redact("x secret-of-backup y token-of-backup") == "x *** y ***");
  }
  SUBCASE("the profile setting wins over AWS_PROFILE; key names are case-insensitive") {
    CredentialOptions o =
        WithEnv({{"AWS_SHARED_CREDENTIALS_FILE", file.string()}, {"AWS_PROFILE", "backup"}});
    o.profile = "other";
    CHECK(MakeCredentialSource(o)->Current().access_key_id == "AKIDOTHER");
  }
  SUBCASE("~/.aws/credentials when no variable names a file") {
    fs::create_directories(dir / "home" / ".aws");
    WriteFile(dir / "home" / ".aws" / "credentials", kCredentialsFile);
    CredentialOptions o = WithEnv({{"HOME", (dir / "home").string()}});
    o.source = "profile";
    auto source = MakeCredentialSource(o);
    CHECK(source->Current().access_key_id == "AKIDDEFAULT");
    CHECK(Contains(source->Describe(), (dir / "home" / ".aws" / "credentials").string()));
  }
}

TEST_CASE("s3 credentials: a missing file, profile or key and a bad line are errors naming them") {
  TempDir dir;
  const fs::path file = dir / "credentials";
  WriteFile(file, kCredentialsFile);
  auto env = [&](const fs::path& f, const std::string& profile) {
    std::map<std::string, std::string> e = {{"AWS_SHARED_CREDENTIALS_FILE", f.string()},
                                            {"AWS_EC2_METADATA_DISABLED", "true"}};
    if (!profile.empty()) e["AWS_PROFILE"] = profile;
    return WithEnv(e);
  };

  SUBCASE("a profile the file does not have") {
    const std::string msg = Refusal(env(file, "nosuch"));
    CHECK(Contains(msg, file.string()));
    CHECK(Contains(msg, "has no profile 'nosuch' (it has 'backup', 'default', 'other')"));
    CheckNoSecret(msg, kFileSecrets);
  }
  SUBCASE("a file that does not exist") {
    CredentialOptions o = env(dir / "absent", "");
    o.profile = "backup";
    const std::string msg = Refusal(o);
    CHECK(Contains(msg, (dir / "absent").string() + ": does not exist"));
    CHECK(Contains(msg, "profile 'backup'"));
  }
  SUBCASE("a line that is neither a header nor key = value, never quoted") {
    WriteFile(file, "[default]\naws_access_key_id = AKIDX\nsecret-of-default\n");
    const std::string msg = Refusal(env(file, ""));
    CHECK(Contains(msg, file.string() + ": line 3 is neither a [profile] header"));
    CHECK(Contains(msg, "(looking for profile 'default')"));
    CheckNoSecret(msg, kFileSecrets);
  }
  SUBCASE("a profile without its secret, or one that assumes a role") {
    WriteFile(file,
              "[default]\naws_access_key_id = AKIDX\n[role]\nrole_arn = arn:aws:iam::1:role/x\n");
    CHECK(Contains(Refusal(env(file, "")), "profile 'default' lacks aws_secret_access_key"));
    CHECK(Contains(Refusal(env(file, "role")), "profile 'role' uses role_arn"));
  }
  SUBCASE("nothing anywhere: every place tried is named") {
    CredentialOptions o =
        WithEnv({{"HOME", (dir / "nohome").string()}, {"AWS_EC2_METADATA_DISABLED", "true"}});
    const std::string msg = Refusal(o);
    CHECK(Contains(msg, "no S3 credentials"));
    CHECK(Contains(msg, "no $AWS_ACCESS_KEY_ID"));
    CHECK(Contains(msg,
                   "no profile 'default' in " + (dir / "nohome").string() + "/.aws/credentials"));
    CHECK(Contains(msg, "disabled by AWS_EC2_METADATA_DISABLED=true"));
  }
  SUBCASE("contradicting or unknown settings") {
    CredentialOptions o = env(file, "");
    o.profile = "backup";
    o.access_key_id = "AKIDSET";
    CHECK(Contains(Refusal(o, BKP_E_INVALID_ARGUMENT), "'profile' and 'access_key_id'"));
    o = env(file, "");
    o.source = "vault";
    CHECK(Contains(Refusal(o, BKP_E_INVALID_ARGUMENT), "setting 'credentials' is 'vault'"));
    o = env(file, "");
    o.source = "imds";
    o.imds_endpoint = "169.254.169.254/latest";
    o.getenv = nullptr;
    CHECK(Contains(Refusal(o, BKP_E_INVALID_ARGUMENT), "setting 'imds_endpoint' is"));
  }
}

TEST_CASE("s3 credentials: settings, then profile setting, environment, file, instance metadata") {
  FakeAws fake({9, 2.0, 0, {}});  // its S3 side is not used
  TempDir dir;
  const fs::path file = dir / "credentials";
  WriteFile(file, kCredentialsFile);
  std::map<std::string, std::string> env = {
      {"AWS_ACCESS_KEY_ID", "AKIDENV"},
      {"AWS_SECRET_ACCESS_KEY", "secret-of-env"},
      {"AWS_SHARED_CREDENTIALS_FILE", file.string()},
      {"AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.imds_endpoint()}};
  auto key = [&](const CredentialOptions& o) {
    return MakeCredentialSource(o)->Current().access_key_id;
  };

  CredentialOptions o = WithEnv(env);
  o.access_key_id = "AKIDSET";
  o.secret_access_key = "secret-of-settings";
  CHECK(key(o) == "AKIDSET");
  // A key of the settings with the secret from the environment, as before.
  o.secret_access_key = "";
  auto mixed = MakeCredentialSource(o);
  CHECK(mixed->Current().secret_access_key == "secret-of-env");
  CHECK(mixed->Describe() ==
        "access key 'AKIDSET' from setting access_key_id and $AWS_SECRET_ACCESS_KEY");
  o = WithEnv(env);
  o.profile = "backup";  // named in the settings: before the environment
  CHECK(key(o) == "AKIDBACKUP");
  CHECK(key(WithEnv(env)) == "AKIDENV");
  env.erase("AWS_ACCESS_KEY_ID");
  CHECK(key(WithEnv(env)) == "AKIDDEFAULT");
  env.erase("AWS_SHARED_CREDENTIALS_FILE");
  env["HOME"] = (dir / "nohome").string();
  CHECK(fake.Log().empty());
  auto imds = MakeCredentialSource(WithEnv(env));
  CHECK(imds->Current().access_key_id.rfind("ASIAFAKE", 0) == 0);
  CHECK(imds->Describe() == "instance metadata at " + fake.imds_endpoint() + " (IMDSv2)");
  CHECK_FALSE(fake.Log().empty());

  // A source named in `credentials` is the only one looked at.
  o = WithEnv({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "secret-of-env"}});
  o.source = "imds";
  o.imds_endpoint = fake.imds_endpoint();
  CHECK(key(o).rfind("ASIAFAKE", 0) == 0);
  o.source = "env";
  o.access_key_id = "AKIDSET";
  o.secret_access_key = "secret-of-settings";
  CHECK(key(o) == "AKIDENV");
  o.source = "profile";
  o.access_key_id = o.secret_access_key = "";
  CHECK(Contains(Refusal(o), "HOME is not set, so there is no ~/.aws/credentials"));

  // Disabled: not one request more.
  const size_t before = fake.Log().size();
  env["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  CHECK(Contains(Refusal(WithEnv(env)), "AWS_EC2_METADATA_DISABLED"));
  CHECK(fake.Log().size() == before);
}

TEST_CASE("s3 credentials: instance metadata is asked token first, the token sent with each GET") {
  FakeAws fake({9, 2.0, 0, {}});  // its S3 side is not used
  const std::string roles = fake.imds_endpoint() + "/latest/meta-data/iam/security-credentials/";

  // The fake itself, checked with stock curl: no token, no answer.
  auto status = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv).output;
  };
  CHECK(status({roles}) == "401");
  CHECK(status({"-H", "X-aws-ec2-metadata-token: made-up", roles}) == "401");
  CHECK(status({"-X", "PUT", fake.imds_endpoint() + "/latest/api/token"}) == "400");  // no TTL
  const auto token =
      RunCommand({"curl", "-s", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60",
                  fake.imds_endpoint() + "/latest/api/token"});
  CHECK(status({"-H", "X-aws-ec2-metadata-token: " + token.output, roles}) == "200");
  const size_t by_curl = fake.Log().size();

  repo::s3::ImdsClient client(fake.imds_endpoint());
  const S3Credentials first = client.Fetch();
  CHECK(first.access_key_id.rfind("ASIAFAKE", 0) == 0);
  CHECK_FALSE(first.secret_access_key.empty());
  CHECK_FALSE(first.session_token.empty());
  REQUIRE(first.expiration);
  CHECK(*first.expiration > Clock::now());
  CHECK(*first.expiration < Clock::now() + std::chrono::seconds(4));
  client.Fetch();  // the session token is kept
  fake.RevokeTokens();
  client.Fetch();  // refused once: a new token, then the GET again

  const nlohmann::json log = fake.Log();
  std::vector<std::string> seen;
  for (size_t i = by_curl; i < log.size(); ++i) {
    const auto& e = log[i];
    CAPTURE(e.dump());
    if (e.at("method") == "PUT") {
      CHECK(e.at("path") == "/latest/api/token");
      CHECK(e.at("ttl") == "21600");
      seen.push_back("PUT");
    } else {
      CHECK(e.at("token_sent").get<bool>());
      seen.push_back(e.at("token_ok").get<bool>() ? "GET" : "GET-401");
    }
  }
  CHECK(seen == std::vector<std::string>{"PUT", "GET", "GET", "GET", "GET", "GET-401", "PUT", "GET",
                                         "GET"});

  SUBCASE("the imds_endpoint setting wins over AWS_EC2_METADATA_SERVICE_ENDPOINT") {
    CredentialOptions o = WithEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}});
    o.source = "imds";
    o.imds_endpoint = fake.imds_endpoint() + "/";
    CHECK(MakeCredentialSource(o)->Current().access_key_id.rfind("ASIAFAKE", 0) == 0);
  }
  SUBCASE("an endpoint nothing answers on fails fast, naming it") {
    CredentialOptions o = WithEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}});
    o.source = "imds";
    const auto start = std::chrono::steady_clock::now();
    const std::string msg = Refusal(o);
    CHECK(Contains(msg, "instance metadata at http://127.0.0.1:9: PUT /latest/api/token"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(8));
  }
}

TEST_CASE("s3 credentials: temporary ones are refreshed before expiry, by one thread at a time") {
  std::atomic<int> fetches{0}, fetching{0}, overlapped{0};
  auto fetch = [&] {
    if (fetching.fetch_add(1) != 0) ++overlapped;
    const int n = ++fetches;
    std::this_thread::sleep_for(milliseconds(n == 1 ? 0 : 150));
    --fetching;
    return S3Credentials{"ASIA" + std::to_string(n), "secret-" + std::to_string(n),
                         "token-" + std::to_string(n), Clock::now() + milliseconds(1600)};
  };
  repo::s3::RefreshingCredentials source(fetch, "test source", nullptr);
  CHECK(fetches == 1);
  CHECK(source.Current().access_key_id == "ASIA1");
  CHECK(fetches == 1);  // not due: what it has

  // Eight threads sign for 3 s: credentials of 1.6 s are fetched again
  // after 0.8 s, each time by one thread while the others use the old ones.
  std::atomic<int> unusable{0}, calls{0};
  std::vector<std::thread> threads;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        const S3Credentials c = source.Current();
        ++calls;
        if (!c.expiration || *c.expiration <= Clock::now()) ++unusable;
        if (c.secret_access_key != "secret-" + c.access_key_id.substr(4)) ++unusable;
        std::this_thread::sleep_for(milliseconds(2));
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(unusable == 0);
  CHECK(overlapped == 0);
  CHECK(fetches >= 3);
  CHECK(fetches <= 6);
  CHECK(calls > 1000);
  CHECK(source.Redact("secret-2 token-3") == "*** ***");
}

TEST_CASE("s3 credentials: a failed refresh keeps valid ones with a warning, then is an error") {
  int fetches = 0;
  auto fetch = [&] {
    if (++fetches > 1) throw bkp::Error(BKP_E_AUTH, "the metadata service answered HTTP 503");
    return S3Credentials{"ASIAONE", "secret-one", "token-one", Clock::now() + milliseconds(3200)};
  };
  std::vector<std::string> warnings;
  repo::s3::RefreshingCredentials source(fetch, "instance metadata at test",
                                         [&](const std::string& w) { warnings.push_back(w); });
  // Credentials of 3.2 s are due at 1.6 s, usable until 2.8 s.
  std::this_thread::sleep_for(milliseconds(1800));
  CHECK(source.Current().access_key_id == "ASIAONE");
  CHECK(fetches == 2);
  REQUIRE(warnings.size() == 1);
  CHECK(Contains(warnings[0],
                 "S3 credentials from instance metadata at test could not be "
                 "refreshed (the metadata service answered HTTP 503)"));
  CHECK(Contains(warnings[0], "stay in use until"));
  CHECK(source.Current().access_key_id == "ASIAONE");
  CHECK(fetches == 2);                              // not tried again at once
  std::this_thread::sleep_for(milliseconds(1200));  // past 2.8 s: expired for signing
  try {
    source.Current();
    FAIL("expired credentials were handed out");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_AUTH);
    const std::string msg = e.what();
    CHECK(Contains(msg, "the temporary S3 credentials from instance metadata at test expired at"));
    CHECK(Contains(msg, "could not be refreshed: the metadata service answered HTTP 503"));
    CheckNoSecret(msg, {"secret-one", "token-one"});
  }
  // The next callers get the same error at once, without a fetch each.
  const int tried = fetches;
  CHECK_THROWS_WITH_AS(source.Current(), doctest::Contains("could not be refreshed"), bkp::Error);
  CHECK(fetches == tried);
  std::this_thread::sleep_for(milliseconds(1100));  // a second later, a fetch again
  CHECK_THROWS_AS(source.Current(), bkp::Error);
  CHECK(fetches == tried + 1);
  for (const auto& w : warnings) CheckNoSecret(w, {"secret-one", "token-one"});
}

TEST_CASE("remote: a backup is signed with the profile AWS_PROFILE or the profile setting names") {
  S3Server server;
  FakeAws fake({server.port(),
                2.0,
                0,
                {"AKIDDEFAULT:secret-of-default", "AKIDBACKUP:secret-of-backup:token-of-backup",
                 "AKIDOTHER:secret-of-other"}});
  TempDir dir;
  const fs::path file = dir / "credentials";
  WriteFile(file, kCredentialsFile);
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", file.string()},
                 {"AWS_PROFILE", "backup"},
                 {"AWS_ACCESS_KEY_ID", std::nullopt},
                 {"AWS_SECRET_ACCESS_KEY", std::nullopt},
                 {"AWS_SESSION_TOKEN", std::nullopt},
                 {"AWS_EC2_METADATA_DISABLED", "true"}});
  std::mt19937_64 rng(7);
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 300, rng, &written);
  REQUIRE(store->Sync().ok());
  const std::string settings = SettingsWithoutKeys(fake.s3_endpoint(), PrefixOf(dir.path()), "");
  {
    plugins_test::Provider remote("remote", settings);
    remote.Backup(*store);
  }
  const auto after_backup = fake.Log();
  CHECK(CheckAllSignedWell(after_backup) == std::vector<std::string>{"AKIDBACKUP"});
  {
    plugins_test::Provider remote("remote", settings + "profile = 'other'\n");
    CHECK(remote.List().size() == 1);
  }
  const auto log = fake.Log();
  CHECK(CheckAllSignedWell(log) == std::vector<std::string>{"AKIDBACKUP", "AKIDOTHER"});
  // A wrong secret in the file: the server refuses, the error names the
  // profile and never prints the secret.
  WriteFile(file,
            "[backup]\naws_access_key_id = AKIDBACKUP\naws_secret_access_key = "
            "not-the-secret-of-backup\naws_session_token = token-of-backup\n");
  const std::string msg = OpenFailure("remote", settings);
  CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
  CHECK_MESSAGE(Contains(msg, "SignatureDoesNotMatch"), msg);
  CHECK_MESSAGE(Contains(msg, "access key 'AKIDBACKUP' of profile 'backup' in " + file.string()),
                msg);
  CheckNoSecret(msg, {"not-the-secret-of-backup", "token-of-backup"});
}

TEST_CASE("remote: a long backup with instance credentials of 2 s signs every request in time") {
  S3Server server;
  // Each request forwarded after 45 ms: the backup and the verify (which
  // re-reads and re-checks every object) outlast 4.5 s, and a key lives 2-3
  // s (refreshed when half of that is left): 3 keys at least.
  FakeAws fake({server.port(), 2.0, 45, {}});
  TempDir dir;
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", std::nullopt}, {"AWS_EC2_METADATA_DISABLED", std::nullopt}});
  std::mt19937_64 rng(11);
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 1500, rng, &written);
  Fill(*store, "billing", 500, rng, &written);
  REQUIRE(store->Sync().ok());
  const std::string settings =
      SettingsWithoutKeys(fake.s3_endpoint(), PrefixOf(dir.path()),
                          "credentials = 'imds'\nimds_endpoint = '" + fake.imds_endpoint() + "'\n");
  plugins_test::Provider remote("remote", settings);
  const auto start = std::chrono::steady_clock::now();
  const std::string id = remote.Backup(*store).backup_id;
  remote.RequireVerifies(id);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const nlohmann::json log = fake.Log();
  const auto keys = CheckAllSignedWell(log);
  MESSAGE(S3Requests(log).size() << " S3 requests in " << took << " s, " << keys.size()
                                 << " instance keys");
  REQUIRE(took > 4.5);  // else the test proves little: make the backup longer
  CHECK(keys.size() >= 3);
  for (const auto& k : keys) CHECK(k.rfind("ASIAFAKE", 0) == 0);
  // IMDSv2 all along: one session token, every GET carrying it.
  CHECK(log.at(0).at("server") == "imds");
  CHECK(log.at(0).at("method") == "PUT");
  int puts = 0;
  for (const auto& e : log) {
    if (e.at("server") != "imds") continue;
    if (e.at("method") == "PUT") ++puts;
    if (e.at("method") == "GET") CHECK(e.at("token_ok").get<bool>());
  }
  CHECK(puts == 1);
}

TEST_CASE("remote: unrefreshable instance credentials are used while valid, then fail as auth") {
  S3Server server;
  FakeAws fake({server.port(), 2.0, 0, {}});
  TempDir dir;
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", std::nullopt}, {"AWS_EC2_METADATA_DISABLED", std::nullopt}});
  fake.FailImdsAfter(1);  // the open's fetch, then 503s
  LoggedRemote remote(SettingsWithoutKeys(
      fake.s3_endpoint(), PrefixOf(dir.path()),
      "credentials = 'imds'\nimds_endpoint = '" + fake.imds_endpoint() + "'\n"));
  std::mt19937_64 rng(13);
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  // Backups one after the other until the credentials run out (2-3 s).
  std::optional<hoststub::Status> failure;
  int good = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!failure && std::chrono::steady_clock::now() < until) {
    Fill(*store, "orders", 50, rng, &written);
    REQUIRE(store->Sync().ok());
    bkp_operation op;
    auto outcome = hoststub::RunBackup(*store, remote.Ref(), BKP_BACKUP_FULL, op);
    if (outcome.ok()) {
      ++good;
    } else {
      failure = outcome.status();
    }
  }
  REQUIRE(failure);
  const std::string msg = failure->message();
  CHECK(good >= 1);
  CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
  CHECK_MESSAGE(Contains(msg, "the temporary S3 credentials from instance metadata at " +
                                  fake.imds_endpoint() + " (IMDSv2) expired at"),
                msg);
  CHECK_MESSAGE(Contains(msg, "HTTP 503"), msg);
  bool warned = false;
  for (const auto& line : remote.Lines()) {
    warned = warned || (Contains(line, "WARN") && Contains(line, "could not be refreshed") &&
                        Contains(line, "stay in use until"));
  }
  CHECK(warned);
  // Nothing reached the server with expired keys: they were not used.
  CHECK(CheckAllSignedWell(fake.Log()).size() == 1);
}

TEST_CASE(
    "fake_aws: its proxy takes the AWS CLI's signatures and refuses a wrong secret or token") {
  S3Server server;
  FakeAws fake({server.port(), 2.0, 0, {"AKIDCLI:secret-of-cli:token-of-cli"}});
  TempDir dir;
  WriteFile(dir / "f.txt", "hello");
  // Debian's awscli (botocore's signer) as the known-good client.
  auto aws = [&](const std::string& secret, const std::string& token,
                 const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env",
                                     "AWS_ACCESS_KEY_ID=AKIDCLI",
                                     "AWS_SECRET_ACCESS_KEY=" + secret,
                                     "AWS_SESSION_TOKEN=" + token,
                                     "AWS_DEFAULT_REGION=us-east-1",
                                     "AWS_EC2_METADATA_DISABLED=true",
                                     "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
                                     "aws",
                                     "--endpoint-url",
                                     fake.s3_endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  const std::string key = "s3://backups/a b+c=d;e&f/\xc3\xbc.txt";  // what SigV4 must encode
  auto put = aws("secret-of-cli", "token-of-cli", {"s3", "cp", (dir / "f.txt").string(), key});
  CHECK_MESSAGE(put.exit_code == 0, put.output);
  auto wrong_secret = aws("secret-of-clj", "token-of-cli", {"s3", "ls", "s3://backups/"});
  CHECK_MESSAGE(Contains(wrong_secret.output, "SignatureDoesNotMatch"), wrong_secret.output);
  auto wrong_token = aws("secret-of-cli", "token-of-clj", {"s3", "ls", "s3://backups/"});
  CHECK_MESSAGE(Contains(wrong_token.output, "InvalidToken"), wrong_token.output);
  int refused = 0;
  for (const auto& e : S3Requests(fake.Log())) refused += e.at("ok").get<bool>() ? 0 : 1;
  CHECK(refused == 2);
  CHECK(
      Contains(testing_support::ReadFile(server.ObjectFile("backups", "a b+c=d;e&f/\xc3\xbc.txt")),
               "hello"));
}
