// ofactl: the command-line client of ofa-coordinator's TrainingService.
//
//   ofactl submit job.yaml [--watch] [--request_id=ID] [--dry_run]
//   ofactl list [--state=running] [--owner=NAME]
//   ofactl get|watch|cancel|report JOB_ID
//   ofactl subnets JOB_ID [--target=NAME]
//   ofactl health [--service=NAME]    (gRPC health check: exit 0 when SERVING, 1 when not)
//
// Global flags: --coordinator=HOST:PORT, --token_file (or $OFA_TOKEN), --tls_ca, --output=json.
// Exit codes: 0 done; 1 the watched job failed or was cancelled; 2 bad input or an RPC error.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "ofa/v1/training_service.grpc.pb.h"
#include "ofactl/health_check.h"
#include "trainer/common/grpc_channel.h"
#include "trainer/spec/job_spec_yaml.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "The coordinator's host:port.");
ABSL_FLAG(std::string, token_file, "", "File with a bearer token; default: $OFA_TOKEN if set.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the coordinator (enables TLS).");
ABSL_FLAG(std::string, output, "text", "text or json (one JSON document per result/event).");
ABSL_FLAG(bool, watch, false, "submit: then watch the job to its end.");
ABSL_FLAG(std::string, request_id, "", "submit: idempotency key (a retry returns the same job).");
ABSL_FLAG(bool, dry_run, false, "submit: validate and show the job, create nothing.");
ABSL_FLAG(std::string, state, "", "list: only jobs in this state (queued, running, ...).");
ABSL_FLAG(std::string, owner, "", "list: only this owner's jobs (admins).");
ABSL_FLAG(int, page_size, 50, "list: jobs per page.");
ABSL_FLAG(std::string, reason, "", "cancel: why, recorded with the job.");
ABSL_FLAG(bool, progress, true, "watch: show progress events (false = state changes only).");
ABSL_FLAG(std::string, service, "", "health: the service to ask about; empty = the server.");
ABSL_FLAG(std::string, target, "", "subnets: only this deployment target's sub-network (GetSubnet).");

namespace {

using ofa::v1::Job;

class Client {
 public:
  absl::Status Connect() {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        ofa::OpenCoordinatorChannel(absl::GetFlag(FLAGS_coordinator), absl::GetFlag(FLAGS_tls_ca));
    if (!channel.ok()) return channel.status();
    stub_ = ofa::v1::TrainingService::NewStub(*channel);
    const std::string file = absl::GetFlag(FLAGS_token_file);
    if (!file.empty()) {
      absl::StatusOr<std::string> token = ofa::ReadTokenFile(file, "token_file");
      if (!token.ok()) return token.status();
      token_ = *std::move(token);
    } else if (const char* env = std::getenv("OFA_TOKEN"); env != nullptr) {
      token_ = env;
    }
    return absl::OkStatus();
  }

  // A context for one call; streams get no deadline.
  std::unique_ptr<grpc::ClientContext> Context(bool stream = false) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!stream) context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    ofa::AddBearerToken(*context, token_);
    return context;
  }

  ofa::v1::TrainingService::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<ofa::v1::TrainingService::Stub> stub_;
  std::string token_;
};

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("cannot reach the coordinator at ",
                                               absl::GetFlag(FLAGS_coordinator), ": ",
                                               s.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

bool Json() { return absl::GetFlag(FLAGS_output) == "json"; }

void PrintJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  absl::PrintF("%s\n", text);
}

std::string Short(const std::string& enum_name, const std::string& prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}
std::string JobStateName(ofa::v1::JobState s) {
  return Short(ofa::v1::JobState_Name(s), "JOB_STATE_");
}
std::string PhaseStateName(ofa::v1::PhaseState s) {
  return Short(ofa::v1::PhaseState_Name(s), "PHASE_STATE_");
}

std::string Clock(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

std::string Percent(double top1) { return top1 > 0 ? absl::StrFormat("%.2f%%", 100 * top1) : "-"; }

void PrintJob(const Job& job) {
  if (Json()) return PrintJson(job);
  absl::PrintF(
      "%s  \"%s\"  owner %s  %s%s\n", job.id(), job.spec().name(), job.owner(),
      JobStateName(job.state()),
      job.current_phase().empty() ? "" : absl::StrCat(" (phase ", job.current_phase(), ")"));
  if (!job.error().empty()) absl::PrintF("  error: %s\n", job.error());
  absl::PrintF("  %-18s %-8s %8s %10s %14s %15s  %s\n", "phase", "state", "attempts", "device-s",
               "largest top-1", "smallest top-1", "note");
  for (const ofa::v1::PhaseStatus& p : job.phases()) {
    std::string note = p.note();
    if (note.empty() && p.state() != ofa::v1::PHASE_STATE_DONE) note = p.error();
    if (p.state() == ofa::v1::PHASE_STATE_RUNNING && p.progress().total_steps() > 0) {
      note = absl::StrFormat("step %d/%d", p.progress().step(), p.progress().total_steps());
    }
    if (p.preemptions() > 0) {
      note = absl::StrCat("preempted ", p.preemptions(), "x (node drain); ", note);
    }
    absl::PrintF("  %-18s %-8s %8d %10.0f %14s %15s  %s\n", p.spec().name(),
                 PhaseStateName(p.state()), p.attempt(), p.carbon().device_seconds(),
                 Percent(p.largest_top1()), Percent(p.smallest_top1()), note.substr(0, 200));
  }
}

absl::Status Watch(Client& client, const std::string& job_id, int* exit_code) {
  ofa::v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_skip_progress(!absl::GetFlag(FLAGS_progress));
  const bool tty = isatty(STDOUT_FILENO) && !Json();
  bool bar_shown = false;
  auto end_bar = [&] {
    if (bar_shown) absl::PrintF("\n");
    bar_shown = false;
  };
  std::unique_ptr<grpc::ClientContext> context = client.Context(/*stream=*/true);
  std::unique_ptr<grpc::ClientReader<ofa::v1::JobEvent>> reader =
      client.stub().WatchJob(context.get(), request);
  ofa::v1::JobEvent event;
  while (reader->Read(&event)) {
    if (Json()) {
      PrintJson(event);
      std::fflush(stdout);
      continue;
    }
    const std::string when = absl::FormatTime(
        "%H:%M:%S", absl::FromUnixSeconds(event.time().seconds()), absl::LocalTimeZone());
    if (event.has_progress()) {
      const ofa::v1::Progress& p = event.progress().progress();
      const double fraction = p.total_steps() > 0 ? double(p.step()) / p.total_steps() : 0;
      const int filled = static_cast<int>(fraction * 30);
      const std::string line =
          absl::StrFormat("[%-16s] [%s%s] %5.1f%%  step %d/%d  loss %.4f  %.0f img/s  ETA %s",
                          event.progress().phase(), std::string(filled, '#'),
                          std::string(30 - filled, '.'), 100 * fraction, p.step(), p.total_steps(),
                          p.loss(), p.images_per_second(), Clock(p.eta_seconds()));
      if (tty) {
        absl::PrintF("\r%s\033[K", line);
        bar_shown = true;
      } else {
        absl::PrintF("%s %s\n", when, line);
      }
      std::fflush(stdout);
      continue;
    }
    end_bar();
    if (event.has_state_changed()) {
      absl::PrintF("%s %s: %s%s\n", when, job_id, JobStateName(event.state_changed().state()),
                   event.state_changed().reason().empty()
                       ? ""
                       : absl::StrCat(" (", event.state_changed().reason(), ")"));
    } else if (event.has_phase_started()) {
      absl::PrintF("%s phase %s: attempt %d started on %d device(s)\n", when,
                   event.phase_started().phase(), event.phase_started().attempt(),
                   event.phase_started().world_size());
    } else if (event.has_phase_finished()) {
      const auto& f = event.phase_finished();
      absl::PrintF("%s phase %s: attempt %d %s%s\n", when, f.phase(), f.attempt(),
                   f.state() == ofa::v1::PHASE_STATE_DONE ? "done" : "ended",
                   f.error().empty() ? "" : absl::StrCat(": ", f.error().substr(0, 600)));
    } else if (event.has_checkpoint_saved()) {
      const auto& c = event.checkpoint_saved().checkpoint();
      absl::PrintF("%s phase %s: checkpoint %s\n", when, c.phase(), c.id());
    }
    std::fflush(stdout);
  }
  end_bar();
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status);
  std::unique_ptr<grpc::ClientContext> get = client.Context();
  ofa::v1::GetJobRequest get_request;
  get_request.set_job_id(job_id);
  Job job;
  if (grpc::Status s = client.stub().GetJob(get.get(), get_request, &job); !s.ok()) {
    return FromGrpc(s);
  }
  if (!Json()) {
    absl::PrintF("\n");
    PrintJob(job);
  }
  *exit_code = job.state() == ofa::v1::JOB_STATE_SUCCEEDED ? 0 : 1;
  return absl::OkStatus();
}

absl::Status Submit(Client& client, const std::string& path, int* exit_code) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read job spec file ", path));
  absl::StatusOr<ofa::trainer::ParsedJobSpec> parsed =
      ofa::trainer::ParseJobSpecYaml(text.str(), path);
  if (!parsed.ok()) return parsed.status();
  ofa::v1::SubmitJobRequest request;
  *request.mutable_spec() = parsed->spec;
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  request.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  ofa::v1::SubmitJobResponse response;
  std::unique_ptr<grpc::ClientContext> context = client.Context();
  grpc::Status status = client.stub().SubmitJob(context.get(), request, &response);
  if (!status.ok()) {
    // The service names fields ("spec: resources.workers: ..."); point at their lines.
    std::string message = status.error_message();
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      message = absl::StrCat(path, ": ",
                             ofa::trainer::AnnotateLines(
                                 std::string(absl::StripPrefix(message, "spec: ")), parsed->lines));
    }
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
  }
  if (Json()) {
    PrintJson(response.job());
  } else {
    absl::PrintF("%s %s: \"%s\", %d phases\n", request.dry_run() ? "would submit" : "submitted",
                 request.dry_run() ? "(dry run)" : response.job().id(),
                 response.job().spec().name(), response.job().phases_size());
  }
  std::fflush(stdout);
  if (absl::GetFlag(FLAGS_watch) && !request.dry_run()) {
    return Watch(client, response.job().id(), exit_code);
  }
  return absl::OkStatus();
}

absl::Status List(Client& client) {
  ofa::v1::ListJobsRequest request;
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  request.set_owner(absl::GetFlag(FLAGS_owner));
  if (const std::string state = absl::GetFlag(FLAGS_state); !state.empty()) {
    ofa::v1::JobState value;
    if (!ofa::v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(state), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--state=", state,
                       ": expected queued, running, specializing, succeeded, failed or "
                       "cancelled"));
    }
    request.add_states(value);
  }
  ofa::v1::ListJobsResponse response;
  std::unique_ptr<grpc::ClientContext> context = client.Context();
  if (grpc::Status s = client.stub().ListJobs(context.get(), request, &response); !s.ok()) {
    return FromGrpc(s);
  }
  if (Json()) {
    PrintJson(response);
    return absl::OkStatus();
  }
  absl::PrintF("%-12s %-24s %-10s %-11s %-18s %s\n", "id", "name", "owner", "state", "phase",
               "created");
  for (const Job& job : response.jobs()) {
    absl::PrintF(
        "%-12s %-24s %-10s %-11s %-18s %s\n", job.id(), job.spec().name().substr(0, 24),
        job.owner().substr(0, 10), JobStateName(job.state()), job.current_phase(),
        absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(job.create_time().seconds()),
                         absl::LocalTimeZone()));
  }
  if (!response.next_page_token().empty()) absl::PrintF("(more: newer pages not shown)\n");
  return absl::OkStatus();
}

// One row per phase and the total: GPU-hours, kWh, CO2, FLOPs, the estimated share and the
// energy lost to failed attempts; then the from-scratch counterfactual and the saving.
void PrintCarbonReport(const ofa::v1::CarbonReport& report) {
  absl::PrintF("carbon report of %s (%s)\n", report.job_id(),
               report.intensity_source_description());
  absl::PrintF("  %-18s %8s %10s %10s %10s %10s %9s %9s\n", "phase", "attempts", "device-h", "kWh",
               "CO2 kg", "FLOPs", "estimated", "wasted");
  auto row = [](const std::string& name, const std::string& attempts,
                const ofa::v1::CarbonTotals& t) {
    const double e = t.energy_joules();
    absl::PrintF("  %-18s %8s %10.4f %10.5f %10.5f %10.3g %8.0f%% %8.0f%%\n", name, attempts,
                 t.device_seconds() / 3600, e / 3.6e6, t.co2_grams() / 1000, t.training_flops(),
                 e > 0 ? 100 * t.estimated_energy_joules() / e : 0.0,
                 e > 0 ? 100 * t.wasted_energy_joules() / e : 0.0);
  };
  for (const ofa::v1::PhaseCarbon& p : report.phases()) {
    row(p.phase(), absl::StrCat(p.attempts()), p.totals());
    if (p.carbon_aware_delay().seconds() > 0) {
      absl::PrintF("  %-18s carbon-aware start: delayed %ds, saved %.1f g CO2\n", "",
                   p.carbon_aware_delay().seconds(), p.carbon_aware_saved_grams());
    }
  }
  row("total", "", report.total());
  if (report.from_scratch_size() > 0) {
    absl::PrintF("from scratch, per deployment target (%s):\n", report.counterfactual_note());
    for (const ofa::v1::CounterfactualCost& c : report.from_scratch()) {
      absl::PrintF("  %-18s %10.5f kWh %10.5f kg CO2 %10.3g FLOPs\n", c.target(),
                   c.energy_joules() / 3.6e6, c.co2_grams() / 1000, c.training_flops());
    }
    // Negative when the targets are too few or too small to outweigh training the supernet.
    absl::PrintF("OFA saved %.5f kg CO2 against training every target from scratch\n",
                 report.co2_saved_grams() / 1000);
  } else {
    absl::PrintF("from scratch: %s\n", report.counterfactual_note());
  }
}

// One row per deployment target: the chosen sub-network's cost, latency, accuracies and
// where its weights are (relative to the service's storage root).
void PrintSubnets(const ofa::v1::ListSubnetsResponse& response) {
  absl::PrintF("%-16s %9s %9s %10s %-22s %9s %9s %9s  %s\n", "target", "MACs", "params", "latency",
               "latency model", "predicted", "valid.", "test", "weights (sha256)");
  for (const ofa::v1::Subnet& s : response.subnets()) {
    absl::PrintF("%-16s %8.2fM %8.3fM %8.3gms %-22s %8.2f%% %8.2f%% %8.2f%%  %s (%s)\n", s.target(),
                 s.cost().macs() / 1e6, s.cost().params() / 1e6, s.latency_ms(), s.latency_model(),
                 100 * s.predicted_top1(), 100 * s.validation_top1(), 100 * s.measured_top1(),
                 s.weights_path(), s.weights_sha256().substr(0, 12));
  }
  for (const ofa::v1::Subnet& s : response.subnets()) {
    if (s.onnx_path().empty()) continue;
    absl::PrintF("%-16s onnx %s (%s)\n", s.target(), s.onnx_path(), s.onnx_sha256().substr(0, 12));
  }
  for (const ofa::v1::Subnet& s : response.subnets()) {
    const ofa::v1::SubnetArch& a = s.arch();
    absl::PrintF("%s: kernels [%s] expand [%s] depths [%s] resolution %d\n", s.target(),
                 absl::StrJoin(a.kernel_sizes(), ","), absl::StrJoin(a.expand_ratios(), ","),
                 absl::StrJoin(a.depths(), ","), a.resolution());
  }
}

absl::Status Run(const std::vector<char*>& args, int* exit_code) {
  if (args.size() < 2) {
    return absl::InvalidArgumentError(
        "usage: ofactl submit FILE | list | health | get|watch|cancel|report|subnets JOB_ID");
  }
  const std::string command = args[1];
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output != "text" && output != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--output=", output, ": text or json"));
  }
  if (command == "health") {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        ofa::OpenCoordinatorChannel(absl::GetFlag(FLAGS_coordinator), absl::GetFlag(FLAGS_tls_ca));
    if (!channel.ok()) return channel.status();
    absl::StatusOr<std::string> health =
        ofa::ofactl::CheckHealth(*channel, absl::GetFlag(FLAGS_service), absl::Seconds(5));
    if (!health.ok()) {
      return absl::Status(health.status().code(), absl::StrCat(absl::GetFlag(FLAGS_coordinator),
                                                               ": ", health.status().message()));
    }
    absl::PrintF("%s\n", *health);
    *exit_code = *health == "SERVING" ? 0 : 1;
    return absl::OkStatus();
  }
  Client client;
  if (absl::Status s = client.Connect(); !s.ok()) return s;
  if (command == "list") return List(client);
  if (args.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat("ofactl ", command, " takes one argument (",
                                                   command == "submit" ? "a spec file" : "a job id",
                                                   ")"));
  }
  const std::string arg = args[2];
  if (command == "submit") return Submit(client, arg, exit_code);
  if (command == "watch") return Watch(client, arg, exit_code);
  std::unique_ptr<grpc::ClientContext> context = client.Context();
  if (command == "get" || command == "cancel") {
    Job job;
    grpc::Status s;
    if (command == "get") {
      ofa::v1::GetJobRequest request;
      request.set_job_id(arg);
      s = client.stub().GetJob(context.get(), request, &job);
    } else {
      ofa::v1::CancelJobRequest request;
      request.set_job_id(arg);
      request.set_reason(absl::GetFlag(FLAGS_reason));
      s = client.stub().CancelJob(context.get(), request, &job);
    }
    if (!s.ok()) return FromGrpc(s);
    PrintJob(job);
    return absl::OkStatus();
  }
  if (command == "report") {
    ofa::v1::GetCarbonReportRequest request;
    request.set_job_id(arg);
    ofa::v1::CarbonReport report;
    if (grpc::Status s = client.stub().GetCarbonReport(context.get(), request, &report); !s.ok()) {
      return FromGrpc(s);
    }
    if (Json()) {
      PrintJson(report);
      return absl::OkStatus();
    }
    PrintCarbonReport(report);
    return absl::OkStatus();
  }
  if (command == "subnets") {
    ofa::v1::ListSubnetsResponse response;
    grpc::Status s;
    if (const std::string target = absl::GetFlag(FLAGS_target); !target.empty()) {
      ofa::v1::GetSubnetRequest request;
      request.set_job_id(arg);
      request.set_target(target);
      s = client.stub().GetSubnet(context.get(), request, response.add_subnets());
    } else {
      ofa::v1::ListSubnetsRequest request;
      request.set_job_id(arg);
      s = client.stub().ListSubnets(context.get(), request, &response);
    }
    if (!s.ok()) return FromGrpc(s);
    if (Json()) {
      PrintJson(response);
      return absl::OkStatus();
    }
    PrintSubnets(response);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown command \"", command, "\": submit, list, get, watch, cancel, report or subnets"));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ofactl submit FILE [--watch] | list | health | get|watch|cancel|report|subnets JOB_ID");
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  int exit_code = 0;
  if (absl::Status s = Run(args, &exit_code); !s.ok()) {
    absl::FPrintF(stderr, "ofactl: %s\n", s.ToString());
    return 2;
  }
  return exit_code;
}
