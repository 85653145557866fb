#ifndef OFA_TRAINER_SPEC_JOB_SPEC_IO_H_
#define OFA_TRAINER_SPEC_JOB_SPEC_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ofa/v1/job_spec.pb.h"

namespace ofa::trainer {

// Parses a JobSpec from JSON (proto3 JSON mapping: lowerCamelCase or the .proto field names,
// enums by name). Unknown fields are errors, so a typo never silently becomes a default.
// INVALID_ARGUMENT names `source` and what the parser rejected.
absl::StatusOr<ofa::v1::JobSpec> ParseJobSpecJson(absl::string_view json,
                                                  absl::string_view source);

// Reads a JobSpec file: ".json" as above, ".textproto"/".pbtxt" as protobuf text format.
// NOT_FOUND if the file cannot be read; at most 1 MiB.
absl::StatusOr<ofa::v1::JobSpec> ReadJobSpecFile(const std::string& path);

// The spec as indented JSON with default-valued fields left out.
std::string JobSpecToJson(const ofa::v1::JobSpec& spec);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_JOB_SPEC_IO_H_
