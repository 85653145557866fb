#include "worker/progress_follower.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <fstream>

#include "nlohmann/json.hpp"

namespace ofa::worker {

void ProgressFollower::Update(absl::Time now) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  if (size <= offset_) return;
  in.seekg(offset_);
  std::string chunk(static_cast<size_t>(size - offset_), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  offset_ = size;
  last_activity_ = now;
  partial_ += chunk;
  size_t start = 0;
  for (size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1) {
    try {
      Parse(partial_.substr(start, end - start));
    } catch (const nlohmann::json::exception&) {
      // A field of an unexpected type: the line is skipped like any other malformed one.
    }
  }
  partial_.erase(0, start);
}

void ProgressFollower::Parse(const std::string& line) {
  const nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) return;
  const std::string kind = event.value("event", "");
  if (kind == "progress") {
    has_progress_ = true;
    progress_.set_step(event.value("step", int64_t{0}));
    progress_.set_total_steps(event.value("total_steps", int64_t{0}));
    progress_.set_epoch(event.value("epoch", 0));
    progress_.set_loss(event.value("loss", 0.0));
    progress_.set_images_per_second(event.value("images_per_second", 0.0));
    progress_.set_eta_seconds(event.value("eta_seconds", 0.0));
    training_flops_ = std::max(training_flops_, event.value("training_flops", 0.0));
  } else if (kind == "checkpoint") {
    latest_checkpoint_ = event.value("checkpoint", "");
    if (has_progress_) progress_.set_step(event.value("step", progress_.step()));
  } else if (kind == "phase_evaluated") {
    largest_top1_ = event.value("largest_top1", 0.0);
    smallest_top1_ = event.value("smallest_top1", 0.0);
  } else if (kind == "subnet_exported" && event.contains("subnet")) {
    ofa::v1::Subnet subnet;
    if (!google::protobuf::util::JsonStringToMessage(event["subnet"].dump(), &subnet).ok()) return;
    for (ofa::v1::Subnet& known : subnets_) {
      if (known.target() == subnet.target()) {
        known = std::move(subnet);
        return;
      }
    }
    subnets_.push_back(std::move(subnet));
  }
}

}  // namespace ofa::worker
