// The remote provider: full and incremental backups on S3-compatible object
// storage (AWS S3, MinIO, Ceph RGW, ...) in the shared repository format,
// under a key prefix of a bucket. Everything but its settings and its
// driver is the engine's (provider_edge.h); the driver is
// plugins/repo/s3/s3_driver.h.
#include <memory>

#include "repo/provider_edge.h"
#include "repo/s3/s3_driver.h"

namespace {

constexpr repo::ProviderIdentity kIdentity = {"remote", "0.1.0", /*incremental=*/true};

const bkp_setting_spec kSettings[] = {
    {"endpoint", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "S3 endpoint, http(s)://host[:port], e.g. https://s3.eu-west-1.amazonaws.com"},
    {"bucket", BKP_SETTING_STRING, BKP_SETTING_REQUIRED, "an existing bucket"},
    {"region", BKP_SETTING_STRING, 0,
     "the bucket's region, signed into every request (default us-east-1)"},
    {"prefix", BKP_SETTING_STRING, 0,
     "key prefix of the repository in the bucket (default none: the bucket's root)"},
    {"path_style", BKP_SETTING_BOOL, 0,
     "address the bucket as endpoint/bucket rather than bucket.endpoint (default false; "
     "MinIO and IP endpoints need true)"},
    {"ca_file", BKP_SETTING_STRING, 0,
     "PEM file of the CA certificates an https endpoint is checked against, instead of the "
     "system's (default: the system's)"},
    {"sse", BKP_SETTING_STRING, 0,
     "server-side encryption of every object written: \"AES256\" or \"aws:kms\" (default: "
     "the bucket's)"},
    {"sse_kms_key_id", BKP_SETTING_STRING, 0,
     "with sse = \"aws:kms\": the KMS key (default: the account's default key)"},
    {"part_size", BKP_SETTING_INT, 0,
     "bytes per part of a multipart upload; larger objects go up in parts (default 16 MiB)"},
    {"min_part_size", BKP_SETTING_INT, 0,
     "the smallest part the server accepts, which part_size must reach (default 5 MiB, S3's)"},
    {"parallel_parts", BKP_SETTING_INT, 0,
     "parts uploaded at once, 1-64; uploads hold at most part_size x parallel_parts bytes "
     "(default 4)"},
    {"credentials", BKP_SETTING_STRING, 0,
     "where the keys come from: auto (default: settings, profile setting, environment, "
     "~/.aws/credentials, instance metadata, in that order), settings, env, profile or imds"},
    {"access_key_id", BKP_SETTING_STRING, 0, "default: $AWS_ACCESS_KEY_ID"},
    {"secret_access_key", BKP_SETTING_STRING, BKP_SETTING_SECRET,
     "default: $AWS_SECRET_ACCESS_KEY"},
    {"session_token", BKP_SETTING_STRING, BKP_SETTING_SECRET,
     "temporary credentials' token (default: $AWS_SESSION_TOKEN, if set)"},
    {"profile", BKP_SETTING_STRING, 0,
     "profile of the shared credentials file ($AWS_SHARED_CREDENTIALS_FILE or "
     "~/.aws/credentials) to use (default: $AWS_PROFILE, else 'default')"},
    {"imds_endpoint", BKP_SETTING_STRING, 0,
     "instance metadata service for the instance role's credentials (default: "
     "$AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254)"},
    {"retry_deadline", BKP_SETTING_INT, 0,
     "seconds a failing request is retried (5xx, SlowDown, timeouts, resets) before the "
     "operation fails (default 120)"},
    {"stall_timeout", BKP_SETTING_INT, 0,
     "seconds without a byte moving before a request is abandoned and retried (default 30)"},
    repo::kWorkersSetting,
    repo::kRateLimitSetting,
    repo::kCompressionSetting,
    repo::kCompressionLevelSetting,
    repo::kFullCheckEverySetting,
    repo::kEncryptionIdentitySetting,
    repo::kEncryptionRecipientsSetting,
};

// The credential source logs through the host.
std::shared_ptr<repo::StorageDriver> MakeDriver(const bkp::Settings& settings,
                                                const bkp::Host& host) {
  return std::make_shared<repo::s3::S3Driver>(repo::s3::ReadS3Config(
      settings, [host](const std::string& line) { host.log(BKP_LOG_WARN, line); }));
}

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return repo::OpenInstance(kIdentity, MakeDriver, args, out, err, err_len);
}

constexpr bkp_provider kProvider = repo::ProviderTable(
    kIdentity, "full and incremental backups on S3-compatible object storage, in the shared format",
    kSettings, Open);

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
