#include "trainer/dist/grpc_store.h"

#include <chrono>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "trainer/common/grpc_channel.h"

namespace ofa::trainer {
namespace {

// Set and Get calls that need no waiting still get a deadline, so a dead coordinator is an
// error, not a hang.
constexpr absl::Duration kCallSlack = absl::Seconds(10);

// "job/<job>/phase/<phase>/attempt/<n>/<rest>" (RendezvousScope + key) -> scope and rest.
absl::Status SplitKey(const std::string& key, ofa::v1::RendezvousScope& scope,
                      std::string& rest) {
  const std::vector<std::string> parts = absl::StrSplit(key, absl::MaxSplits('/', 6));
  int64_t attempt = 0;
  if (parts.size() != 7 || parts[0] != "job" || parts[2] != "phase" || parts[4] != "attempt" ||
      !absl::SimpleAtoi(parts[5], &attempt) || parts[6].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous key \"", key, "\" does not start with job/<job>/phase/<phase>/attempt/<n>/"));
  }
  scope.set_job_id(parts[1]);
  scope.set_phase(parts[3]);
  scope.set_attempt(static_cast<int32_t>(attempt));
  rest = parts[6];
  return absl::OkStatus();
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace

GrpcStore::GrpcStore(std::shared_ptr<grpc::Channel> channel, std::string token)
    : stub_(ofa::v1::WorkerService::NewStub(std::move(channel))), token_(std::move(token)) {}

void GrpcStore::Prepare(grpc::ClientContext& context, absl::Duration wait) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(wait + kCallSlack));
  ofa::AddBearerToken(context, token_);
}

absl::Status GrpcStore::Set(const std::string& key, const std::string& value) {
  ofa::v1::SetKeyRequest request;
  std::string rest;
  if (absl::Status s = SplitKey(key, *request.mutable_scope(), rest); !s.ok()) return s;
  request.set_key(rest);
  request.set_value(value);
  grpc::ClientContext context;
  Prepare(context, absl::ZeroDuration());
  ofa::v1::SetKeyResponse response;
  grpc::Status status = stub_->SetKey(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("rendezvous set \"", key, "\""));
  return absl::OkStatus();
}

absl::StatusOr<std::string> GrpcStore::Get(const std::string& key, absl::Duration timeout) {
  ofa::v1::GetKeysRequest request;
  std::string rest;
  if (absl::Status s = SplitKey(key, *request.mutable_scope(), rest); !s.ok()) return s;
  request.add_keys(rest);
  const int64_t millis = absl::ToInt64Milliseconds(timeout);
  request.mutable_timeout()->set_seconds(millis / 1000);
  request.mutable_timeout()->set_nanos(static_cast<int32_t>(millis % 1000) * 1000000);
  grpc::ClientContext context;
  Prepare(context, timeout);
  ofa::v1::GetKeysResponse response;
  grpc::Status status = stub_->GetKeys(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("rendezvous get \"", key, "\""));
  if (response.values_size() != 1) {
    return absl::DataLossError(absl::StrCat("rendezvous get \"", key, "\": ",
                                            response.values_size(), " values for one key"));
  }
  return response.values(0);
}

}  // namespace ofa::trainer
