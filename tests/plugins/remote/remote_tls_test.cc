// The remote provider over https with a private CA: s3rver serving a
// certificate signed by a CA the test makes with the stock openssl tool,
// trusted through the `ca_file` setting only (libcurl ignores the CA
// environment variables); an untrusted certificate fails at once with an
// error that names the setting, and a bad ca_file is refused at open.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "plugin_host/abi_status.h"
#include "plugins/remote_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenFailure;
using plugins_test::OpenStore;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::OpenRemote;
using remote_test::PrefixOf;
using s3_test::S3Server;
using testing_support::RunCommand;
using testing_support::TempDir;

namespace {

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = RunCommand(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
}

// A self-signed CA in dir/<name>.pem (key <name>.key).
void MakeCa(const fs::path& dir, const std::string& name) {
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
           "-days", "2", "-subj", "/CN=" + name});
}

// dir/server.pem and server.key, for 127.0.0.1 and *.s3.localhost, signed
// by the CA `ca`.
s3_test::ServerTls MakeServerCert(const fs::path& dir, const std::string& ca) {
  const fs::path ext = dir / "server.ext";
  testing_support::WriteFile(
      ext, "subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:s3.localhost, DNS:*.s3.localhost\n");
  Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           (dir / "server.key").string(), "-out", (dir / "server.csr").string(), "-subj",
           "/CN=127.0.0.1"});
  Openssl({"x509", "-req", "-in", (dir / "server.csr").string(), "-CA",
           (dir / (ca + ".pem")).string(), "-CAkey", (dir / (ca + ".key")).string(),
           "-CAcreateserial", "-out", (dir / "server.pem").string(), "-days", "2", "-extfile",
           ext.string()});
  return {dir / "server.pem", dir / "server.key"};
}

}  // namespace

TEST_CASE("remote: https with a private CA named by ca_file, an untrusted one fails at once") {
  TempDir pki;
  MakeCa(pki.path(), "test-ca");
  MakeCa(pki.path(), "other-ca");
  S3Server server({"backups"}, MakeServerCert(pki.path(), "test-ca"));
  REQUIRE(server.endpoint().rfind("https://", 0) == 0);
  const std::string ca = (pki.path() / "test-ca.pem").string();
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  // One server for every step (no SUBCASEs, which would start one each).

  {  // Trusted through ca_file: a backup and its restore.
    std::mt19937_64 rng(131);
    auto store = OpenStore(StoreOptions(dir / "data", 256 * kKiB, 64 * kKiB));
    Written written;
    Fill(*store, "orders", 800, rng, &written);
    REQUIRE(store->Sync().ok());
    auto remote = OpenRemote(server.endpoint(), prefix, {{"ca_file", "'" + ca + "'"}});
    const std::string id = remote->Backup(*store).backup_id;
    store.reset();
    remote->Restore(id, dir / "restored");
    CheckHolds(*OpenStore(StoreOptions(dir / "restored", 256 * kKiB, 64 * kKiB)), written);
  }
  {  // Virtual-host addressing over https.
    const std::string endpoint = "https://s3.localhost:" + std::to_string(server.port());
    auto remote = OpenRemote(endpoint, prefix + "vhost/",
                             {{"ca_file", "'" + ca + "'"}, {"path_style", "false"}});
    CHECK(remote->List().empty());
  }
  {  // The system's CAs do not know it.
    const auto start = std::chrono::steady_clock::now();
    const std::string msg =
        OpenFailure("remote", s3_test::RemoteSettings(server.endpoint(), prefix));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_UNREACHABLE)), msg);
    CHECK_MESSAGE(Contains(msg, "the TLS certificate of the S3 endpoint " + server.endpoint()),
                  msg);
    CHECK_MESSAGE(Contains(msg, "is not trusted by the system's CA certificates"), msg);
    CHECK_MESSAGE(Contains(msg, "set 'ca_file'"), msg);
    // Not retried until retry_deadline (20 s here): no retry can fix it.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }
  {  // Another CA in ca_file.
    const std::string other = (pki.path() / "other-ca.pem").string();
    const std::string msg = OpenFailure(
        "remote",
        s3_test::RemoteSettings(server.endpoint(), prefix, {{"ca_file", "'" + other + "'"}}));
    CHECK_MESSAGE(Contains(msg, "is not trusted by the CA certificates of ca_file '" + other + "'"),
                  msg);
  }
}

TEST_CASE("remote: a ca_file that is missing, not a file, or for http is refused at open") {
  TempDir dir;
  auto msg = [&](const std::string& endpoint, const std::string& ca_file) {
    return OpenFailure("remote",
                       s3_test::RemoteSettings(endpoint, "p/", {{"ca_file", "'" + ca_file + "'"}}));
  };
  const std::string https = "https://127.0.0.1:9";  // never contacted
  const std::string missing = (dir / "no-such.pem").string();
  std::string m = msg(https, missing);
  CHECK_MESSAGE(Contains(m, "setting 'ca_file' is '" + missing + "': no such file"), m);
  CHECK(Contains(m, hoststub::BkpStatusName(BKP_E_INVALID_ARGUMENT)));
  m = msg(https, dir.path().string());
  CHECK_MESSAGE(Contains(m, "setting 'ca_file' is '" + dir.path().string() + "': not a file"), m);
  testing_support::WriteFile(dir / "ca.pem", "not used");
  m = msg("http://127.0.0.1:9", (dir / "ca.pem").string());
  CHECK_MESSAGE(
      Contains(m, "setting 'ca_file' is set but endpoint 'http://127.0.0.1:9' is not https://"), m);
}
