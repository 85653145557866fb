#ifndef OFA_TRAINER_COMMON_GRPC_CHANNEL_H_
#define OFA_TRAINER_COMMON_GRPC_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ofa {

// A channel to the coordinator at `address` (host:port): TLS verified against the PEM CA
// bundle in `ca_file` when one is given, plaintext otherwise (loopback and tests). Messages up
// to 8 MiB either way (a job spec is at most 1 MiB). NOT_FOUND if the CA file is unreadable.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenCoordinatorChannel(const std::string& address,
                                                                      const std::string& ca_file);

// The bearer token in `path` (surrounding whitespace dropped); NOT_FOUND naming `flag` if the
// file cannot be read or holds none.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path, const std::string& flag);

// Sends `token` as "authorization: Bearer <token>" with the call; nothing if it is empty.
void AddBearerToken(grpc::ClientContext& context, const std::string& token);

}  // namespace ofa

#endif  // OFA_TRAINER_COMMON_GRPC_CHANNEL_H_
