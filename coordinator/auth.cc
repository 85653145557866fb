#include "coordinator/auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ofa::coordinator {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kSubmitter:
      return "submitter";
    case Role::kWorker:
      return "worker";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read tokens file ", path));
  auto auth = std::unique_ptr<Authenticator>(new Authenticator());
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string uncommented = line.substr(0, line.find('#'));
    const absl::string_view content = absl::StripAsciiWhitespace(uncommented);
    if (content.empty()) continue;
    std::vector<std::string> fields = absl::StrSplit(content, ' ', absl::SkipWhitespace());
    const std::string where = absl::StrCat(path, ":", number, ": ");
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "expected \"<token> <role> <name>\", got ", fields.size(), " field(s)"));
    }
    Caller caller{fields[2], Role::kAdmin};
    if (fields[1] == "submitter") {
      caller.role = Role::kSubmitter;
    } else if (fields[1] == "worker") {
      caller.role = Role::kWorker;
    } else if (fields[1] != "admin") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "unknown role \"", fields[1], "\" (admin, submitter or worker)"));
    }
    if (fields[0].size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "token too short: at least 16 characters"));
    }
    if (!auth->by_token_.emplace(fields[0], caller).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "duplicate token"));
    }
  }
  if (auth->by_token_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens"));
  }
  return auth;
}

std::unique_ptr<Authenticator> Authenticator::Open() {
  auto auth = std::unique_ptr<Authenticator>(new Authenticator());
  auth->open_ = true;
  return auth;
}

absl::StatusOr<Caller> Authenticator::Check(const grpc::ServerContext& context,
                                            const std::vector<Role>& allowed) const {
  if (open_) return Caller{"local", Role::kAdmin};
  const auto& metadata = context.client_metadata();
  auto header = metadata.find("authorization");
  if (header == metadata.end()) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  const std::string value(header->second.data(), header->second.size());
  absl::string_view token = value;
  if (!absl::ConsumePrefix(&token, "Bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata must be \"Bearer <token>\"");
  }
  // Compare every known token in constant time, so timing does not leak a prefix.
  const Caller* found = nullptr;
  for (const auto& [known, caller] : by_token_) {
    if (known.size() == token.size() &&
        CRYPTO_memcmp(known.data(), token.data(), token.size()) == 0) {
      found = &caller;
    }
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown token");
  if (std::find(allowed.begin(), allowed.end(), found->role) == allowed.end()) {
    std::vector<std::string> names;
    for (Role r : allowed) names.push_back(RoleName(r));
    return absl::PermissionDeniedError(
        absl::StrCat("role ", RoleName(found->role), " (", found->name,
                     ") may not call this method; it needs ", absl::StrJoin(names, " or ")));
  }
  return *found;
}

}  // namespace ofa::coordinator
