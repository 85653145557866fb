#ifndef OFA_COORDINATOR_AUTH_H_
#define OFA_COORDINATOR_AUTH_H_

#include <grpcpp/server_context.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ofa::coordinator {

enum class Role { kAdmin, kSubmitter, kWorker };

struct Caller {
  std::string name;  // Owner of the jobs it submits.
  Role role = Role::kAdmin;
};

// Bearer-token authentication and role checks. Tokens come from a file, one per line:
//   <token> <role> <name>      (role: admin | submitter | worker; '#' starts a comment)
// Callers send "authorization: Bearer <token>". Without a token file the service is open:
// everyone is the admin "local" (the single-machine demo), and the coordinator says so.
class Authenticator {
 public:
  static absl::StatusOr<std::unique_ptr<Authenticator>> FromFile(const std::string& path);
  static std::unique_ptr<Authenticator> Open();

  // The caller if its token is valid and its role is one of `allowed`: UNAUTHENTICATED for a
  // missing or unknown token, PERMISSION_DENIED for a role that may not call the method.
  absl::StatusOr<Caller> Check(const grpc::ServerContext& context,
                               const std::vector<Role>& allowed) const;

  bool open() const { return open_; }

 private:
  bool open_ = false;
  std::map<std::string, Caller> by_token_;
};

const char* RoleName(Role role);

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_AUTH_H_
