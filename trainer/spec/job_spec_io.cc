#include "trainer/spec/job_spec_io.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace ofa::trainer {
namespace {

constexpr std::streamsize kMaxSpecBytes = 1 << 20;

// Collects text-format parse errors with their line and column (1-based).
class TextFormatErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::StatusOr<ofa::v1::JobSpec> ParseJobSpecJson(absl::string_view json,
                                                  absl::string_view source) {
  ofa::v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  google::protobuf::util::Status status =
      google::protobuf::util::JsonStringToMessage(std::string(json), &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a valid JobSpec in JSON: ", status.message().ToString()));
  }
  return spec;
}

absl::StatusOr<ofa::v1::JobSpec> ReadJobSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read job spec file ", path));
  std::string text(kMaxSpecBytes + 1, '\0');
  in.read(text.data(), kMaxSpecBytes + 1);
  text.resize(in.gcount());
  if (static_cast<std::streamsize>(text.size()) > kMaxSpecBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": job spec is larger than ", kMaxSpecBytes, " bytes"));
  }
  if (absl::EndsWith(path, ".json")) return ParseJobSpecJson(text, path);
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".pbtxt")) {
    ofa::v1::JobSpec spec;
    TextFormatErrors errors;
    google::protobuf::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(text, &spec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a valid JobSpec in text format: ", errors.first()));
    }
    return spec;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unknown job spec format; use .json, .textproto or .pbtxt"));
}

std::string JobSpecToJson(const ofa::v1::JobSpec& spec) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  // Serialising a valid message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(spec, &json, options);
  return json;
}

}  // namespace ofa::trainer
