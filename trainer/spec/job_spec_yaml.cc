#include "trainer/spec/job_spec_yaml.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/reflection.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ofa::trainer {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr int kMaxDepth = 16;

class Mapper {
 public:
  explicit Mapper(absl::string_view source) : source_(source) {}

  absl::Status Fill(const YAML::Node& node, Message& message, const std::string& path, int depth) {
    if (depth > kMaxDepth) return Error(node, path, "nested too deeply");
    if (!node.IsMap()) return Error(node, path, "expected a mapping of field names to values");
    const google::protobuf::Descriptor* type = message.GetDescriptor();
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) return Error(entry.first, path, "a field name must be text");
      const std::string name = entry.first.Scalar();
      const FieldDescriptor* field = type->FindFieldByName(name);
      for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == name) field = type->field(i);
      }
      const std::string field_path = path.empty() ? name : absl::StrCat(path, ".", name);
      if (field == nullptr) {
        return Error(entry.first, field_path, absl::StrCat("no such field in ", type->name()));
      }
      const std::string canonical =
          path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
      lines_[canonical] = entry.first.Mark().line + 1;
      if (absl::Status s = FillField(entry.second, message, field, canonical, depth); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  std::map<std::string, int>& lines() { return lines_; }

 private:
  absl::Status Error(const YAML::Node& node, const std::string& path, const std::string& what) {
    const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 1;
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", line, ": ", path.empty() ? "" : path + ": ", what));
  }

  absl::Status FillField(const YAML::Node& value, Message& message, const FieldDescriptor* field,
                         const std::string& path, int depth) {
    const google::protobuf::Reflection* r = message.GetReflection();
    if (value.IsNull()) return absl::OkStatus();  // "field:" with nothing = the default.
    if (field->is_map()) {
      if (!value.IsMap()) return Error(value, path, "expected a mapping");
      for (const auto& entry : value) {
        if (!entry.first.IsScalar() || !entry.second.IsScalar()) {
          return Error(entry.first, path, "expected text keys and values");
        }
        Message* item = r->AddMessage(&message, field);
        const google::protobuf::Descriptor* d = item->GetDescriptor();
        item->GetReflection()->SetString(item, d->FindFieldByName("key"), entry.first.Scalar());
        item->GetReflection()->SetString(item, d->FindFieldByName("value"), entry.second.Scalar());
      }
      return absl::OkStatus();
    }
    if (field->is_repeated()) {
      if (!value.IsSequence()) return Error(value, path, "expected a list");
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = absl::StrCat(path, "[", i, "]");
        lines_[item_path] = value[i].Mark().line + 1;
        if (absl::Status s = AddOrSet(value[i], message, field, item_path, depth, true); !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    return AddOrSet(value, message, field, path, depth, false);
  }

  absl::Status AddOrSet(const YAML::Node& value, Message& message, const FieldDescriptor* field,
                        const std::string& path, int depth, bool add) {
    const google::protobuf::Reflection* r = message.GetReflection();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Message* sub = add ? r->AddMessage(&message, field) : r->MutableMessage(&message, field);
      if (field->message_type()->full_name() == "google.protobuf.Duration") {
        return SetDuration(value, *sub, path);
      }
      return Fill(value, *sub, path, depth + 1);
    }
    if (!value.IsScalar()) return Error(value, path, "expected a single value");
    const std::string text = value.Scalar();
    auto bad = [&](const char* what) {
      return Error(value, path,
                   absl::StrCat("expected ", what, ", got \"", text.substr(0, 64), "\""));
    };
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a 32-bit integer");
        add ? r->AddInt32(&message, field, v) : r->SetInt32(&message, field, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
        add ? r->AddInt64(&message, field, v) : r->SetInt64(&message, field, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        add ? r->AddUInt32(&message, field, v) : r->SetUInt32(&message, field, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        add ? r->AddUInt64(&message, field, v) : r->SetUInt64(&message, field, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) return bad("a finite number");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
          add ? r->AddFloat(&message, field, static_cast<float>(v))
              : r->SetFloat(&message, field, static_cast<float>(v));
        } else {
          add ? r->AddDouble(&message, field, v) : r->SetDouble(&message, field, v);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (!absl::SimpleAtob(text, &v)) return bad("true or false");
        add ? r->AddBool(&message, field, v) : r->SetBool(&message, field, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        add ? r->AddString(&message, field, text) : r->SetString(&message, field, text);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const google::protobuf::EnumValueDescriptor* v = field->enum_type()->FindValueByName(text);
        if (v == nullptr) {
          std::string names;
          for (int i = 1; i < field->enum_type()->value_count(); ++i) {
            absl::StrAppend(&names, i > 1 ? ", " : "", field->enum_type()->value(i)->name());
          }
          return Error(
              value, path,
              absl::StrCat("unknown value \"", text.substr(0, 64), "\"; expected one of ", names));
        }
        add ? r->AddEnum(&message, field, v) : r->SetEnum(&message, field, v);
        break;
      }
      default:
        return Error(value, path, "unsupported field type");
    }
    return absl::OkStatus();
  }

  absl::Status SetDuration(const YAML::Node& value, Message& message, const std::string& path) {
    double seconds = 0;
    std::string text = value.IsScalar() ? value.Scalar() : "";
    if (!text.empty() && text.back() == 's') text.pop_back();
    if (!value.IsScalar() || !absl::SimpleAtod(text, &seconds) || !std::isfinite(seconds) ||
        std::abs(seconds) > 315576000000.0) {
      return Error(value, path, "expected a duration in seconds such as \"90s\"");
    }
    auto& d = static_cast<google::protobuf::Duration&>(message);
    d.set_seconds(static_cast<int64_t>(seconds));
    d.set_nanos(static_cast<int32_t>(std::llround((seconds - d.seconds()) * 1e9)));
    return absl::OkStatus();
  }

  std::string source_;
  std::map<std::string, int> lines_;
};

}  // namespace

absl::StatusOr<ParsedJobSpec> ParseJobSpecYaml(absl::string_view text, absl::string_view source) {
  if (text.size() > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": larger than 1048576 bytes; a job spec is small"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1,
                                                   ": not valid "
                                                   "YAML or JSON: ",
                                                   e.msg));
  }
  ParsedJobSpec parsed;
  Mapper mapper(source);
  try {
    if (absl::Status s = mapper.Fill(root, parsed.spec, "", 0); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": ", e.msg));
  }
  parsed.lines = std::move(mapper.lines());
  return parsed;
}

std::string AnnotateLines(const std::string& message, const std::map<std::string, int>& lines) {
  // The validator separates findings with "; " and starts each with "field.path: ".
  std::vector<std::string> parts = absl::StrSplit(message, "; ");
  std::string out;
  for (const std::string& part : parts) {
    const size_t colon = part.find(": ");
    std::string annotated = part;
    if (colon != std::string::npos) {
      // The longest known prefix of the path ("targets[1].name" or just "targets[1]").
      std::string path = part.substr(0, colon);
      while (!path.empty() && lines.count(path) == 0) {
        const size_t cut = path.find_last_of(".[");
        path = cut == std::string::npos ? "" : path.substr(0, cut);
      }
      if (!path.empty()) {
        annotated =
            absl::StrCat(part.substr(0, colon), " (line ", lines.at(path), ")", part.substr(colon));
      }
    }
    absl::StrAppend(&out, out.empty() ? "" : "; ", annotated);
  }
  return out;
}

}  // namespace ofa::trainer
