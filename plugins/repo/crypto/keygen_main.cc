// bkp-keygen: makes the age identity a provider's `encryption_identity`
// setting names, as the stock age-keygen does (the file it writes is one
// `age -d -i` reads).
//
//   bkp-keygen -o FILE   writes a new identity to FILE (created with mode
//                        0600, never over an existing file) and prints its
//                        recipient (age1...) on stdout
//   bkp-keygen -y FILE   prints the recipient of the identity in FILE
//
// Exit status 0 on success; 1 with a message on stderr otherwise. The
// secret is written only to FILE, never printed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/crypto/age_keys.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: bkp-keygen -o FILE   write a new age identity to FILE (mode 0600)\n"
               "       bkp-keygen -y FILE   print the recipient of the identity in FILE\n");
  return 2;
}

int WriteIdentity(const std::string& path) {
  const age::Identity identity = age::Identity::Generate();
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const std::string text = std::string("# created: ") + created +
                           "\n# public key: " + identity.recipient.ToString() + "\n" +
                           identity.ToString() + "\n";
  // O_EXCL: an existing key is never replaced (its backups would be lost).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "bkp-keygen: cannot create '%s': %s\n", path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    std::fprintf(stderr, "bkp-keygen: cannot write '%s': %s\n", path.c_str(), std::strerror(err));
    return 1;
  }
  std::printf("%s\n", identity.recipient.ToString().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return Usage();
  const std::string flag = argv[1];
  try {
    if (flag == "-o") return WriteIdentity(argv[2]);
    if (flag == "-y") {
      for (const auto& identity : age::ReadIdentityFile(argv[2])) {
        std::printf("%s\n", identity.recipient.ToString().c_str());
      }
      return 0;
    }
  } catch (const bkp::Error& e) {
    std::fprintf(stderr, "bkp-keygen: %s\n", e.what());
    return 1;
  }
  return Usage();
}
