#ifndef OFA_TRAINER_SPEC_JOB_SPEC_YAML_H_
#define OFA_TRAINER_SPEC_JOB_SPEC_YAML_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ofa/v1/job_spec.pb.h"

namespace ofa::trainer {

// A JobSpec read from YAML (or JSON, which YAML includes), mapped field by field onto the
// proto: keys are the .proto field names or their lowerCamelCase JSON names, enums by name,
// durations as "90s". Every problem is INVALID_ARGUMENT naming `source`, the line and the
// field path ("spec.yaml:7: schedule.overrides[0].epochs: expected an integer, got \"two\"").
struct ParsedJobSpec {
  ofa::v1::JobSpec spec;
  // Field path ("resources.workers", "targets[1].name") -> 1-based line, so the validator's
  // findings can be pointed at the line too.
  std::map<std::string, int> lines;
};
absl::StatusOr<ParsedJobSpec> ParseJobSpecYaml(absl::string_view text, absl::string_view source);

// Adds " (line N)" after every "field.path:" in `message` that `lines` knows.
std::string AnnotateLines(const std::string& message, const std::map<std::string, int>& lines);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_JOB_SPEC_YAML_H_
